-- AlterTable
ALTER TABLE "sink_checkpoints" ADD COLUMN     "locked_by" TEXT COLLATE "C",
ADD COLUMN     "locked_until" TIMESTAMP(3);
