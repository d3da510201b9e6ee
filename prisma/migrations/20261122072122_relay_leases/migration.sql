-- AlterTable
ALTER TABLE "sink_checkpoints" ADD COLUMN "locked_by" TEXT;
ALTER TABLE "sink_checkpoints" ADD COLUMN "locked_until" DATETIME;
