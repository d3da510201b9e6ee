-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "children" TEXT,
ADD COLUMN     "complete_with_children" INTEGER,
ADD COLUMN     "depth" INTEGER,
ADD COLUMN     "on_child_failure" TEXT,
ADD COLUMN     "parent_id" TEXT,
ADD COLUMN     "weight" DOUBLE PRECISION;

-- CreateIndex
CREATE INDEX "statuses_tenant_id_parent_id_status_id_idx" ON "statuses"("tenant_id", "parent_id", "status_id");
