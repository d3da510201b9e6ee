-- No query reads events by event_id or by occurred_at: the feed is read by (tenant_id, seq), a
-- status's history by (tenant_id, status_id, seq), and retention walks the feed's front by seq
-- (docs/storage.md, "What the schema costs a write").
DROP INDEX "status_events_event_id_key";
DROP INDEX "status_events_occurred_at_idx";
