-- CreateTable
CREATE TABLE "tenants" (
    "id" TEXT COLLATE "C" NOT NULL,
    "last_seq" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT COLLATE "C" NOT NULL,
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "hash" TEXT COLLATE "C" NOT NULL,
    "prefix" TEXT COLLATE "C" NOT NULL,
    "scopes" TEXT COLLATE "C" NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMP(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "statuses" (
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "status_id" TEXT COLLATE "C" NOT NULL,
    "kind" TEXT COLLATE "C",
    "resource_id" TEXT COLLATE "C",
    "status" TEXT COLLATE "C" NOT NULL,
    "priority" TEXT COLLATE "C" NOT NULL,
    "priority_rank" INTEGER NOT NULL,
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "message" TEXT COLLATE "C",
    "steps_completed" INTEGER,
    "steps_total" INTEGER,
    "error_info" TEXT COLLATE "C",
    "retry_count" INTEGER NOT NULL DEFAULT 0,
    "max_retries" INTEGER NOT NULL DEFAULT 3,
    "metadata" TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    "tags" TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "started_at" TIMESTAMP(3),
    "completed_at" TIMESTAMP(3),
    "estimated_completion_at" TIMESTAMP(3),
    "last_reported_at" TIMESTAMP(3),

    CONSTRAINT "statuses_pkey" PRIMARY KEY ("tenant_id","status_id")
);

-- CreateTable
CREATE TABLE "status_counts" (
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "status" TEXT COLLATE "C" NOT NULL,
    "priority" TEXT COLLATE "C" NOT NULL,
    "kind" TEXT COLLATE "C" NOT NULL,
    "n" INTEGER NOT NULL,

    CONSTRAINT "status_counts_pkey" PRIMARY KEY ("tenant_id","status","priority","kind")
);

-- CreateTable
CREATE TABLE "status_events" (
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "seq" BIGINT NOT NULL,
    "event_id" TEXT COLLATE "C" NOT NULL,
    "type" TEXT COLLATE "C" NOT NULL,
    "status_id" TEXT COLLATE "C" NOT NULL,
    "version" INTEGER NOT NULL,
    "occurred_at" TIMESTAMP(3) NOT NULL,
    "changes" TEXT COLLATE "C" NOT NULL,
    "record" TEXT COLLATE "C" NOT NULL,

    CONSTRAINT "status_events_pkey" PRIMARY KEY ("tenant_id","seq")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "key" TEXT COLLATE "C" NOT NULL,
    "fingerprint" TEXT COLLATE "C" NOT NULL,
    "status_code" INTEGER NOT NULL,
    "body" TEXT COLLATE "C" NOT NULL,
    "headers" TEXT COLLATE "C" NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("tenant_id","key")
);

-- CreateTable
CREATE TABLE "settings" (
    "key" TEXT COLLATE "C" NOT NULL,
    "value" TEXT COLLATE "C" NOT NULL,

    CONSTRAINT "settings_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "sink_checkpoints" (
    "sink" TEXT COLLATE "C" NOT NULL,
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sink_checkpoints_pkey" PRIMARY KEY ("sink","tenant_id")
);

-- CreateTable
CREATE TABLE "dead_letters" (
    "id" TEXT COLLATE "C" NOT NULL,
    "sink" TEXT COLLATE "C" NOT NULL,
    "tenant_id" TEXT COLLATE "C" NOT NULL,
    "seq" BIGINT NOT NULL,
    "event_id" TEXT COLLATE "C" NOT NULL,
    "error" TEXT COLLATE "C" NOT NULL,
    "attempts" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "dead_letters_pkey" PRIMARY KEY ("id")
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
CREATE INDEX "statuses_tenant_id_created_at_status_id_idx" ON "statuses"("tenant_id", "created_at", "status_id");

-- CreateIndex
CREATE INDEX "statuses_tenant_id_kind_progress_status_id_idx" ON "statuses"("tenant_id", "kind", "progress", "status_id");

-- CreateIndex
CREATE UNIQUE INDEX "status_events_event_id_key" ON "status_events"("event_id");

-- CreateIndex
CREATE INDEX "status_events_tenant_id_status_id_seq_idx" ON "status_events"("tenant_id", "status_id", "seq");

-- CreateIndex
CREATE INDEX "status_events_occurred_at_idx" ON "status_events"("occurred_at");

-- CreateIndex
CREATE INDEX "idempotency_records_created_at_idx" ON "idempotency_records"("created_at");

-- CreateIndex
CREATE INDEX "dead_letters_sink_created_at_idx" ON "dead_letters"("sink", "created_at");

-- Hand-written from here on (Prisma's schema language cannot express it); docs/storage.md explains each
-- part, and prisma/migrations/20261122043905_search_and_counts is the SQLite counterpart.
--
-- Every text column above is COLLATE "C": comparisons and ORDER BY then go by bytes, as SQLite's BINARY
-- collation does, so listings, cursors and ranges order the same on both stores whatever the
-- database's locale; lower() and ILIKE on these columns fold ASCII letters only, as SQLite does.

-- Statuses per (tenant, status, priority, kind), kept in step with every write path by triggers.
-- A trigger first locks the tenant's row, which every writing transaction locks anyway to take the
-- next seq: count rows are then only ever changed by one transaction per tenant at a time, so two
-- transitions in opposite directions cannot deadlock on them.
CREATE FUNCTION "statuses_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD."status" IS NOT DISTINCT FROM NEW."status"
     AND OLD."priority" IS NOT DISTINCT FROM NEW."priority" AND OLD."kind" IS NOT DISTINCT FROM NEW."kind" THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM "tenants" WHERE "id" = coalesce(NEW."tenant_id", OLD."tenant_id") FOR UPDATE;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE "status_counts" SET "n" = "n" - 1
    WHERE "tenant_id" = OLD."tenant_id" AND "status" = OLD."status" AND "priority" = OLD."priority"
      AND "kind" = coalesce(OLD."kind", '');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO "status_counts" ("tenant_id", "status", "priority", "kind", "n")
    VALUES (NEW."tenant_id", NEW."status", NEW."priority", coalesce(NEW."kind", ''), 1)
    ON CONFLICT ("tenant_id", "status", "priority", "kind") DO UPDATE SET "n" = "status_counts"."n" + 1;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "statuses_count_insert" AFTER INSERT ON "statuses"
  FOR EACH ROW EXECUTE FUNCTION "statuses_count_change"();
CREATE TRIGGER "statuses_count_delete" AFTER DELETE ON "statuses"
  FOR EACH ROW EXECUTE FUNCTION "statuses_count_change"();
CREATE TRIGGER "statuses_count_update" AFTER UPDATE OF "status", "priority", "kind" ON "statuses"
  FOR EACH ROW EXECUTE FUNCTION "statuses_count_change"();

-- Substring search for `q`: a trigram index over the three searched columns, as one expression
-- (queries repeat it exactly; see src/db/dialect.ts). pg_trgm takes trigrams within words only, so the
-- separator keeps the columns apart. The index only narrows the candidates (pg_trgm folds case by the
-- database's locale and ignores punctuation): the query then applies the exact ASCII-case-insensitive
-- test, as on SQLite. Prisma does not model expression indexes and leaves this one alone.
CREATE EXTENSION IF NOT EXISTS "pg_trgm";
CREATE INDEX "statuses_search_idx" ON "statuses" USING gin (
  (coalesce("status_id", '') || E'\n' || coalesce("message", '') || E'\n' || coalesce("resource_id", '')) gin_trgm_ops
);
