-- CreateTable
CREATE TABLE "status_counts" (
    "tenant_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "priority" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "n" INTEGER NOT NULL,

    PRIMARY KEY ("tenant_id", "status", "priority", "kind")
);

-- Backfill, then keep the counts in step with every write path.
INSERT INTO "status_counts" ("tenant_id", "status", "priority", "kind", "n")
SELECT "tenant_id", "status", "priority", coalesce("kind", ''), COUNT(*) FROM "statuses"
GROUP BY "tenant_id", "status", "priority", coalesce("kind", '');

CREATE TRIGGER "statuses_count_insert" AFTER INSERT ON "statuses" BEGIN
  INSERT INTO "status_counts" ("tenant_id", "status", "priority", "kind", "n")
  VALUES (new."tenant_id", new."status", new."priority", coalesce(new."kind", ''), 1)
  ON CONFLICT DO UPDATE SET "n" = "n" + 1;
END;

CREATE TRIGGER "statuses_count_delete" AFTER DELETE ON "statuses" BEGIN
  UPDATE "status_counts" SET "n" = "n" - 1
  WHERE "tenant_id" = old."tenant_id" AND "status" = old."status" AND "priority" = old."priority"
    AND "kind" = coalesce(old."kind", '');
END;

CREATE TRIGGER "statuses_count_update" AFTER UPDATE OF "status", "priority", "kind" ON "statuses"
WHEN old."status" IS NOT new."status" OR old."priority" IS NOT new."priority" OR old."kind" IS NOT new."kind"
BEGIN
  UPDATE "status_counts" SET "n" = "n" - 1
  WHERE "tenant_id" = old."tenant_id" AND "status" = old."status" AND "priority" = old."priority"
    AND "kind" = coalesce(old."kind", '');
  INSERT INTO "status_counts" ("tenant_id", "status", "priority", "kind", "n")
  VALUES (new."tenant_id", new."status", new."priority", coalesce(new."kind", ''), 1)
  ON CONFLICT DO UPDATE SET "n" = "n" + 1;
END;

-- Substring search for `q`: a trigram index over the three searched columns. It is an external-content
-- table over statuses' rowid, so it stores only the index; the triggers keep it in step.
CREATE VIRTUAL TABLE "status_search" USING fts5(
  "status_id", "message", "resource_id", content='statuses', content_rowid='rowid', tokenize='trigram'
);
INSERT INTO "status_search" ("status_search") VALUES ('rebuild');

CREATE TRIGGER "statuses_search_insert" AFTER INSERT ON "statuses" BEGIN
  INSERT INTO "status_search" ("rowid", "status_id", "message", "resource_id")
  VALUES (new."rowid", new."status_id", new."message", new."resource_id");
END;

CREATE TRIGGER "statuses_search_delete" AFTER DELETE ON "statuses" BEGIN
  INSERT INTO "status_search" ("status_search", "rowid", "status_id", "message", "resource_id")
  VALUES ('delete', old."rowid", old."status_id", old."message", old."resource_id");
END;

CREATE TRIGGER "statuses_search_update" AFTER UPDATE OF "message", "resource_id" ON "statuses"
WHEN old."message" IS NOT new."message" OR old."resource_id" IS NOT new."resource_id"
BEGIN
  INSERT INTO "status_search" ("status_search", "rowid", "status_id", "message", "resource_id")
  VALUES ('delete', old."rowid", old."status_id", old."message", old."resource_id");
  INSERT INTO "status_search" ("rowid", "status_id", "message", "resource_id")
  VALUES (new."rowid", new."status_id", new."message", new."resource_id");
END;

-- Planner statistics for statuses, as ANALYZE measured them on the 1,000,000-row benchmark database
-- (one tenant). Without them SQLite guesses that `tenant_id = ?` selects ten rows and walks a sort
-- order's index even when a handful of ids from the search index would do (200 ms against 1 ms).
-- Fixed rather than re-measured, so every database plans the way the benchmark measured; the service
-- never runs ANALYZE (docs/storage.md, "Planner statistics").
ANALYZE "status_counts";
DELETE FROM "sqlite_stat1" WHERE "tbl" = 'statuses';
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES
  ('statuses', 'sqlite_autoindex_statuses_1', '1000000 1000000 1'),
  ('statuses', 'statuses_tenant_id_updated_at_status_id_idx', '1000000 1000000 1 1'),
  ('statuses', 'statuses_tenant_id_status_updated_at_status_id_idx', '1000000 1000000 142858 1 1'),
  ('statuses', 'statuses_tenant_id_created_at_status_id_idx', '1000000 1000000 1 1'),
  ('statuses', 'statuses_tenant_id_kind_progress_status_id_idx', '1000000 1000000 100000 991 1');
