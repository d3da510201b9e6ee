-- AlterTable
ALTER TABLE "statuses" ADD COLUMN "children" TEXT;
ALTER TABLE "statuses" ADD COLUMN "complete_with_children" INTEGER;
ALTER TABLE "statuses" ADD COLUMN "depth" INTEGER;
ALTER TABLE "statuses" ADD COLUMN "on_child_failure" TEXT;
ALTER TABLE "statuses" ADD COLUMN "parent_id" TEXT;
ALTER TABLE "statuses" ADD COLUMN "weight" REAL;

-- CreateIndex
CREATE INDEX "statuses_tenant_id_parent_id_status_id_idx" ON "statuses"("tenant_id", "parent_id", "status_id");
