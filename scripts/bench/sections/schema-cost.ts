// What each index, trigger and event column costs a write (SQLite): the batch section's raw ceiling
// (one status UPDATE … RETURNING and one event INSERT per update, 500 a transaction) run once per
// variant of the schema, each on a copy of one database of 100,000 statuses, beside the schema as
// migrated. A variant drops one thing the migrations make, or adds back one they dropped.
import { ask } from '../lib/ipc'
import { round, thousands, type SectionResult } from '../lib/report'
import type { BenchContext } from '../lib/context'
import type { SchemaCostRequest, SchemaVariant } from '../workers/updater-inprocess'

const STATUSES = 100_000
const BATCH_SIZE = 500

interface Variant extends SchemaVariant {
  /** The measured queries it serves, or why it is gone. */
  servesOrWhy: string
}

const dropIndex = (name: string) => [`DROP INDEX "${name}"`]
const TRIGGERS = [
  'count_insert',
  'count_delete',
  'count_update',
  'search_insert',
  'search_delete',
  'search_update',
]

const VARIANTS: Variant[] = [
  { name: 'the schema as migrated', sql: [], servesOrWhy: '' },
  {
    name: 'without statuses (tenant_id, updated_at, status_id)',
    sql: dropIndex('statuses_tenant_id_updated_at_status_id_idx'),
    servesOrWhy: 'listing in its default order (`-updated_at`), `updated_after`/`_before`',
  },
  {
    name: 'without statuses (tenant_id, status, updated_at, status_id)',
    sql: dropIndex('statuses_tenant_id_status_updated_at_status_id_idx'),
    servesOrWhy: 'the filters bench: `status=…&updated_after=…`, `status=completed&sort=-updated_at`',
  },
  {
    name: 'without statuses (tenant_id, created_at, status_id)',
    sql: dropIndex('statuses_tenant_id_created_at_status_id_idx'),
    servesOrWhy: 'the filters bench: `tag=…&sort=-created_at`; `created_after`/`_before`',
  },
  {
    name: 'without statuses (tenant_id, kind, progress, status_id)',
    sql: dropIndex('statuses_tenant_id_kind_progress_status_id_idx'),
    servesOrWhy: 'the filters bench: `kind=…&progress_gte=…&progress_lte=…&sort=progress_percentage`',
  },
  {
    name: 'without the count and search triggers',
    sql: TRIGGERS.map((t) => `DROP TRIGGER "statuses_${t}"`),
    servesOrWhy:
      '`include_total` from counts, `q` through the trigram index (they fire only on the columns they follow)',
  },
  {
    name: 'without status_events (tenant_id, status_id, seq)',
    sql: dropIndex('status_events_tenant_id_status_id_seq_idx'),
    servesOrWhy: "a status's history (`GET /api/status/:id/events`)",
  },
  {
    name: 'plus UNIQUE status_events (event_id)',
    sql: ['CREATE UNIQUE INDEX "bench_event_id" ON "status_events" ("event_id")'],
    servesOrWhy: 'dropped: no query looks an event up by its id (a UUIDv7, unique by construction)',
  },
  {
    name: 'plus status_events (occurred_at)',
    sql: ['CREATE INDEX "bench_occurred_at" ON "status_events" ("occurred_at")'],
    servesOrWhy: "dropped: retention walks the feed's front by (tenant_id, seq)",
  },
  {
    name: 'events with `{}` as changes and record',
    sql: [],
    emptyPayload: true,
    servesOrWhy: 'the contract: every event carries its changes and the record after them',
  },
  { name: 'the schema as migrated, again (drift)', sql: [], servesOrWhy: '' },
]

export async function runSchemaCost(ctx: BenchContext): Promise<SectionResult> {
  const worker = ctx.startWorker('schema-cost', 'updater-inprocess.ts')
  let runs: { name: string; perSec: number; seconds: number; events: number }[]
  try {
    const request: SchemaCostRequest = {
      url: await ctx.database.create('schema-cost'),
      statuses: STATUSES,
      updates: ctx.options.updates,
      batchSize: BATCH_SIZE,
      variants: VARIANTS.map(({ name, sql, emptyPayload }) => ({ name, sql, emptyPayload })),
    }
    runs = (await ask<{ variants: typeof runs }>(worker.child, 'schema-cost', { ...request }, 600_000))
      .variants
  } finally {
    await worker.stop()
  }
  const micros = (perSec: number) => 1e6 / perSec
  const base = micros(runs[0]!.perSec)
  const rows = runs.map((run, i) => {
    const us = micros(run.perSec)
    const delta = i === 0 ? '' : `${us - base >= 0 ? '+' : '−'}${round(Math.abs(us - base), 1)}`
    return [run.name, thousands(run.perSec), String(round(us, 1)), delta, VARIANTS[i]!.servesOrWhy]
  })
  const drift = Math.abs(micros(runs.at(-1)!.perSec) - base)
  return {
    name: 'schema-cost',
    title: 'What the schema costs a write (raw better-sqlite3, 100,000 statuses)',
    summary: `as migrated ${thousands(runs[0]!.perSec)} updates+events/s (${round(base, 1)} µs each)`,
    table: {
      columns: ['variant', 'updates+events/s', 'µs each', 'µs vs as migrated', 'serves (or why dropped)'],
      rows,
    },
    notes: [
      `Each variant: ${thousands(ctx.options.updates)} progress updates of distinct statuses after one unmeasured pass over all ${thousands(STATUSES)}, ${BATCH_SIZE} a transaction, on a copy of one seeded database. A "without" row's µs below the schema's is what that index or trigger costs each write; a "plus" row's µs above it is what a dropped one would cost.`,
      `The schema measured twice, first and last: ${round(drift, 1)} µs apart, the noise of one row.`,
    ],
    targets: [],
    otherCpuPercent: null,
    data: { statuses: STATUSES, batchSize: BATCH_SIZE, updates: ctx.options.updates, runs },
  }
}
