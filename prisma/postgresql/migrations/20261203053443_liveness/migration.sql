-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "deadline_at" TIMESTAMP(3),
ADD COLUMN     "due_at" TIMESTAMP(3),
ADD COLUMN     "heartbeat_timeout_s" INTEGER,
ADD COLUMN     "last_heartbeat_at" TIMESTAMP(3),
ADD COLUMN     "overdue_at" TIMESTAMP(3),
ADD COLUMN     "stalls_at" TIMESTAMP(3),
ADD COLUMN     "start_by" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "statuses_due_at_idx" ON "statuses"("due_at");
