// Direct access to the bench's own SQLite files, for what the public API would make slow or cannot say:
// thousands of fixtures in one statement, and the event feed's head (how many events were committed).
import BetterSqlite3 from 'better-sqlite3'

export const fixtureId = (prefix: string, i: number) => `${prefix}-${String(i).padStart(5, '0')}`

/**
 * Copies the status `templateId` (made through the real create path) to `<prefix>-00000 …`, in one
 * transaction. At about 1.5 ms per POST /api/status, 10,000 fixtures through the API would take longer
 * than the scenario that uses them; the copies are rows the service wrote, under other ids (only their
 * `status.created` events are missing, which no scenario reads). Existing ids are left as they are.
 */
export function cloneStatuses(
  file: string,
  tenantId: string,
  templateId: string,
  prefix: string,
  count: number,
): string[] {
  const db = new BetterSqlite3(file, { timeout: 10_000 })
  try {
    const columns = (db.prepare('PRAGMA table_info(statuses)').all() as { name: string }[]).map((c) => c.name)
    const select = columns.map((c) => (c === 'status_id' ? "printf('%s-%05d', ?, n.i)" : `t.${c}`))
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
       INSERT INTO statuses (${columns.join(', ')})
       SELECT ${select.join(', ')} FROM n JOIN statuses t ON t.tenant_id = ? AND t.status_id = ?
       WHERE true ON CONFLICT DO NOTHING`,
    ).run(count, prefix, tenantId, templateId)
    const found = db
      .prepare('SELECT COUNT(*) AS n FROM statuses WHERE tenant_id = ? AND status_id BETWEEN ? AND ?')
      .get(tenantId, fixtureId(prefix, 0), fixtureId(prefix, count - 1)) as { n: number }
    if (found.n < count) throw new Error(`cloned ${found.n} of ${count} ${prefix} fixtures`)
  } finally {
    db.close()
  }
  return Array.from({ length: count }, (_, i) => fixtureId(prefix, i))
}

/** A read-only view of the feed's head: `last_seq` counts every event ever committed for the tenant. */
export function openFeedHead(file: string, tenantId: string) {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 10_000 })
  const head = db.prepare<[string], { last_seq: number | bigint }>(
    'SELECT last_seq FROM tenants WHERE id = ?',
  )
  return {
    lastSeq: () => Number(head.get(tenantId)?.last_seq ?? 0),
    close: () => db.close(),
  }
}
