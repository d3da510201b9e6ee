-- AlterTable
ALTER TABLE "status_events" ADD COLUMN     "lines" TEXT;

-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "log_lines" INTEGER;

-- CreateTable
CREATE TABLE "status_logs" (
    "tenant_id" TEXT NOT NULL,
    "status_id" TEXT NOT NULL,
    "n" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "level" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "fields" TEXT,

    CONSTRAINT "status_logs_pkey" PRIMARY KEY ("tenant_id","status_id","n")
);
