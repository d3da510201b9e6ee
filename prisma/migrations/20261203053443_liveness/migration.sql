-- AlterTable
ALTER TABLE "statuses" ADD COLUMN "deadline_at" DATETIME;
ALTER TABLE "statuses" ADD COLUMN "due_at" DATETIME;
ALTER TABLE "statuses" ADD COLUMN "heartbeat_timeout_s" INTEGER;
ALTER TABLE "statuses" ADD COLUMN "last_heartbeat_at" DATETIME;
ALTER TABLE "statuses" ADD COLUMN "overdue_at" DATETIME;
ALTER TABLE "statuses" ADD COLUMN "stalls_at" DATETIME;
ALTER TABLE "statuses" ADD COLUMN "start_by" DATETIME;

-- CreateIndex
CREATE INDEX "statuses_due_at_idx" ON "statuses"("due_at");
