-- CreateTable
CREATE TABLE "tenants" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "last_seq" BIGINT NOT NULL DEFAULT 0,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "scopes" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" DATETIME
);

-- CreateTable
CREATE TABLE "statuses" (
    "tenant_id" TEXT NOT NULL,
    "status_id" TEXT NOT NULL,
    "kind" TEXT,
    "resource_id" TEXT,
    "status" TEXT NOT NULL,
    "priority" TEXT NOT NULL,
    "priority_rank" INTEGER NOT NULL,
    "progress" REAL NOT NULL DEFAULT 0,
    "message" TEXT,
    "steps_completed" INTEGER,
    "steps_total" INTEGER,
    "error_info" TEXT,
    "retry_count" INTEGER NOT NULL DEFAULT 0,
    "max_retries" INTEGER NOT NULL DEFAULT 3,
    "metadata" TEXT NOT NULL DEFAULT '{}',
    "tags" TEXT NOT NULL DEFAULT '[]',
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL,
    "started_at" DATETIME,
    "completed_at" DATETIME,
    "estimated_completion_at" DATETIME,
    "last_reported_at" DATETIME,

    PRIMARY KEY ("tenant_id", "status_id")
);

-- CreateTable
CREATE TABLE "status_events" (
    "tenant_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "event_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "occurred_at" DATETIME NOT NULL,
    "changes" TEXT NOT NULL,
    "record" TEXT NOT NULL,

    PRIMARY KEY ("tenant_id", "seq")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "tenant_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "status_code" INTEGER NOT NULL,
    "body" TEXT NOT NULL,
    "headers" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("tenant_id", "key")
);

-- CreateTable
CREATE TABLE "settings" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_hash_key" ON "api_keys"("hash");

-- CreateIndex
CREATE INDEX "api_keys_tenant_id_idx" ON "api_keys"("tenant_id");

-- CreateIndex
CREATE INDEX "statuses_tenant_id_updated_at_status_id_idx" ON "statuses"("tenant_id", "updated_at", "status_id");

-- CreateIndex
CREATE INDEX "statuses_tenant_id_status_updated_at_status_id_idx" ON "statuses"("tenant_id", "status", "updated_at", "status_id");

-- CreateIndex
CREATE UNIQUE INDEX "status_events_event_id_key" ON "status_events"("event_id");

-- CreateIndex
CREATE INDEX "status_events_tenant_id_status_id_seq_idx" ON "status_events"("tenant_id", "status_id", "seq");

-- CreateIndex
CREATE INDEX "status_events_occurred_at_idx" ON "status_events"("occurred_at");

-- CreateIndex
CREATE INDEX "idempotency_records_created_at_idx" ON "idempotency_records"("created_at");
