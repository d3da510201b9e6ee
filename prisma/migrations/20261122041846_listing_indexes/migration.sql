-- CreateIndex
CREATE INDEX "statuses_tenant_id_created_at_status_id_idx" ON "statuses"("tenant_id", "created_at", "status_id");

-- CreateIndex
CREATE INDEX "statuses_tenant_id_kind_progress_status_id_idx" ON "statuses"("tenant_id", "kind", "progress", "status_id");
