import os from 'node:os'
import type { Measurement } from './load'
import type { BenchOptions, DbKind } from './options'
import type { DatabaseProvider } from './store'

export interface ScenarioResult extends Measurement {
  name: string
  title: string
  /** req/s divided by the hello-world ceiling's; null when the ceiling did not run. */
  ratioToCeiling: number | null
}

export interface TargetResult {
  description: string
  actual: number | null
  met: boolean | null
}

/**
 * A scenario with its own numbers (batch ingest, fan-out, latency): its table, notes and targets go to
 * latest.md as a section of their own, and everything it measured to latest.json under `data`.
 */
export interface SectionResult {
  name: string
  title: string
  /** One line for the console. */
  summary: string
  /** Markdown cells; the first column is left-aligned, the others right-aligned. */
  table: { columns: string[]; rows: string[][] }
  notes: string[]
  targets: TargetResult[]
  /** The most other programs used of the CPU while it measured, % of one core (for the caution line). */
  otherCpuPercent: number | null
  data: Record<string, unknown>
}

export const target = (
  description: string,
  actual: number | null,
  met: (v: number) => boolean,
): TargetResult => ({
  description,
  actual,
  met: actual === null || !Number.isFinite(actual) ? null : met(actual),
})

export interface BenchReport {
  date: string
  store: DbKind
  node: string
  platform: string
  cpu: { model: string; cores: number }
  settings: {
    durationSec: number
    warmupSec: number
    connections: number
    logLevel: string
    db: string
    cpuProfile: boolean
  }
  scenarios: ScenarioResult[]
  sections: SectionResult[]
  /** Every target: the HTTP scenarios' first, then each section's. */
  targets: TargetResult[]
}

interface Target {
  scenario: string
  description: string
  value: (r: ScenarioResult) => number | null
  met: (value: number) => boolean
}

const TARGETS: Target[] = [
  {
    scenario: 'get',
    description: 'GET ≥ 0.7× ceiling',
    value: (r) => r.ratioToCeiling,
    met: (v) => v >= 0.7,
  },
  {
    scenario: 'put',
    description: 'PUT ≥ 0.5× ceiling',
    value: (r) => r.ratioToCeiling,
    met: (v) => v >= 0.5,
  },
  {
    scenario: 'create',
    description: 'POST ≥ 0.5× ceiling',
    value: (r) => r.ratioToCeiling,
    met: (v) => v >= 0.5,
  },
  {
    scenario: 'heartbeat',
    description: 'heartbeat ≥ 0.6× ceiling',
    value: (r) => r.ratioToCeiling,
    met: (v) => v >= 0.6,
  },
  {
    scenario: 'logs',
    description: 'log appends (10 lines) ≥ 0.5× ceiling',
    value: (r) => r.ratioToCeiling,
    met: (v) => v >= 0.5,
  },
  { scenario: 'get', description: 'GET p99 ≤ 5 ms', value: (r) => r.latencyMs.p99, met: (v) => v <= 5 },
  { scenario: 'put', description: 'PUT p99 ≤ 20 ms', value: (r) => r.latencyMs.p99, met: (v) => v <= 20 },
]

export function withRatios(
  measured: { name: string; title: string; ceiling?: boolean; measurement: Measurement }[],
): ScenarioResult[] {
  const ceiling = measured.find((m) => m.ceiling)?.measurement.requestsPerSec
  return measured.map(({ name, title, measurement }) => ({
    name,
    title,
    ...measurement,
    ratioToCeiling: ceiling ? measurement.requestsPerSec / ceiling : null,
  }))
}

export function buildReport(
  options: BenchOptions,
  database: Pick<DatabaseProvider, 'kind' | 'label'>,
  scenarios: ScenarioResult[],
  sections: SectionResult[],
  startedAt: Date,
): BenchReport {
  const cpus = os.cpus()
  const targets = TARGETS.map((target): TargetResult => {
    const result = scenarios.find((s) => s.name === target.scenario)
    const actual = result ? target.value(result) : null
    return { description: target.description, actual, met: actual === null ? null : target.met(actual) }
  })
  return {
    date: startedAt.toISOString(),
    store: database.kind,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length },
    settings: {
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      connections: options.connections,
      logLevel: options.logLevel,
      db: database.label,
      cpuProfile: options.cpuProfDir !== undefined,
    },
    scenarios,
    sections,
    targets: [...targets, ...sections.flatMap((section) => section.targets)],
  }
}

export const round = (n: number, digits: number) => Number(n.toFixed(digits))
const maybe = (n: number | null, digits: number) => (n === null ? '–' : String(round(n, digits)))
export const thousands = (n: number) => Math.round(n).toLocaleString('en-US')

export const STORE_NAMES: Record<DbKind, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' }

function sectionMarkdown(section: SectionResult, level: number): string[] {
  const { columns, rows } = section.table
  return [
    `${'#'.repeat(level)} ${section.title}`,
    '',
    `| ${columns.join(' | ')} |`,
    `|${columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    ...section.notes.flatMap((note) => [note, '']),
  ]
}

/** The report of one store; `level` 2 nests it under a combined report's heading. */
export function toMarkdown(report: BenchReport, level = 1): string {
  const s = report.settings
  const postgres = report.store === 'postgres'
  const lines = [
    `${'#'.repeat(level)} Benchmark ${report.date}: ${STORE_NAMES[report.store]}`,
    '',
    `Node ${report.node}, ${report.cpu.model} × ${report.cpu.cores} cores (${report.platform}); ` +
      `${s.connections} connections, ${s.durationSec} s per scenario after ${s.warmupSec} s warm-up; ` +
      `database ${s.db}, LOG_LEVEL=${s.logLevel}${s.cpuProfile ? ', under --cpu-prof (slower)' : ''}.`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | non-2xx | × ceiling |',
    '|---|---:|---:|---:|---:|---:|',
    ...report.scenarios.map(
      (r) =>
        `| ${r.title} | ${thousands(r.requestsPerSec)} | ${round(r.latencyMs.p50, 2)} | ${round(r.latencyMs.p99, 2)} | ` +
        `${r.non2xx} | ${r.ratioToCeiling === null ? '–' : `${round(r.ratioToCeiling, 2)}×`} |`,
    ),
    '',
    'Where the CPU went (% of one core; the service has one of the two cores to itself only if "other" is near 0' +
      `${postgres ? ' and PostgreSQL uses little' : ''}):`,
    '',
    `| scenario | server CPU % | server CPU µs/req |${postgres ? ' PostgreSQL CPU % |' : ''} load generator CPU % | other programs CPU % |`,
    `|---|---:|---:|${postgres ? '---:|' : ''}---:|---:|`,
    ...report.scenarios.map(
      (r) =>
        `| ${r.title} | ${maybe(r.cpu.serverPercent, 0)} | ${maybe(r.cpu.serverUsPerRequest, 0)} | ` +
        `${postgres ? `${maybe(r.cpu.databasePercent ?? null, 0)} | ` : ''}` +
        `${round(r.cpu.loaderPercent, 0)} | ${maybe(r.cpu.otherPercent, 0)} |`,
    ),
    '',
  ]
  const busiest = Math.max(
    0,
    ...report.scenarios.map((r) => r.cpu.otherPercent ?? 0),
    ...report.sections.map((section) => section.otherCpuPercent ?? 0),
  )
  if (busiest > 25) {
    lines.push(
      `Caution: other programs used up to ${Math.round(busiest)} % of a core during the runs, so the ` +
        'rates (req/s, updates/s, deliveries/s) and latencies are lower than on a quiet machine; CPU µs per ' +
        'request or delivery is the steadier number. Each section says how busy the machine was while it measured.',
      '',
    )
  }
  const failed = report.scenarios.filter((r) => r.errors > 0)
  if (failed.length > 0) {
    lines.push(
      `Connection errors: ${failed.map((r) => `${r.name} ${r.errors} (${r.timeouts} timeouts)`).join(', ')}.`,
      '',
    )
  }
  for (const section of report.sections) lines.push(...sectionMarkdown(section, level + 1))
  const verdict = (t: TargetResult) =>
    t.met === null ? 'not measured' : `${t.met ? 'met' : 'missed'} (${round(t.actual!, 2)})`
  lines.push('Targets:', '', ...report.targets.map((t) => `- ${t.description}: ${verdict(t)}`), '')
  return lines.join('\n')
}

/** One line of the comparison: a number per store, null where that store did not measure it. */
export interface ComparisonRow {
  metric: string
  values: Partial<Record<DbKind, number | null>>
  digits: number
}

export interface CombinedReport {
  date: string
  node: string
  platform: string
  cpu: { model: string; cores: number }
  stores: DbKind[]
  comparison: ComparisonRow[]
  reports: BenchReport[]
}

// Sections keep what they measured under `data`, typed by their own modules; the comparison reads a
// few numbers out of it by path.
const dig = (value: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((v, k) => (v === null || typeof v !== 'object' ? undefined : (v as never)[k]), value)
const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null
const sectionData = (r: BenchReport, name: string) => r.sections.find((s) => s.name === name)?.data

function comparisonRows(reports: BenchReport[]): ComparisonRow[] {
  const row = (metric: string, digits: number, value: (r: BenchReport) => number | null): ComparisonRow => ({
    metric,
    digits,
    values: Object.fromEntries(reports.map((r) => [r.store, value(r)])),
  })
  const http = (name: string) => (r: BenchReport) =>
    r.scenarios.find((s) => s.name === name)?.requestsPerSec ?? null
  const rows = [
    row('Express hello-world req/s (ceiling)', 0, http('hello')),
    row('GET /api/status/:id req/s', 0, http('get')),
    row('PUT /api/status/:id req/s', 0, http('put')),
    row('POST /api/status req/s', 0, http('create')),
    ...(['get', 'put', 'create'] as const).map((name) =>
      row(
        `${name === 'create' ? 'POST' : name.toUpperCase()} server CPU µs/req (steadier on a busy machine)`,
        0,
        (r) => r.scenarios.find((s) => s.name === name)?.cpu.serverUsPerRequest ?? null,
      ),
    ),
    row('PUT PostgreSQL CPU % of a core', 0, (r) =>
      r.store === 'postgres'
        ? (r.scenarios.find((s) => s.name === 'put')?.cpu.databasePercent ?? null)
        : null,
    ),
    row('batch HTTP updates/s (accepted)', 0, (r) =>
      num(dig(sectionData(r, 'batch'), 'http', 'acceptedPerSec')),
    ),
    row('batch HTTP updates/s (committed)', 0, (r) =>
      num(dig(sectionData(r, 'batch'), 'http', 'committedPerSec')),
    ),
    row('updater in-process updates/s', 0, (r) => num(dig(sectionData(r, 'batch'), 'inProcess', 'perSec'))),
    row('raw driver updates/s (better-sqlite3 / pg; ceiling)', 0, (r) =>
      num(dig(sectionData(r, 'batch'), 'raw', 'perSec')),
    ),
  ]
  const subscriberCounts = new Set<number>()
  const filterIds = new Set<string>()
  for (const r of reports) {
    const runs = dig(sectionData(r, 'fanout'), 'runs')
    if (Array.isArray(runs)) for (const run of runs) subscriberCounts.add(Number(dig(run, 'subscribers')))
    const results = dig(sectionData(r, 'filters'), 'results')
    if (Array.isArray(results)) for (const f of results) filterIds.add(String(dig(f, 'id')))
  }
  for (const n of subscriberCounts) {
    rows.push(
      row(`fan-out deliveries/s, ${thousands(n)} subscribers`, 0, (r) => {
        const runs = dig(sectionData(r, 'fanout'), 'runs')
        const run = Array.isArray(runs) ? runs.find((x) => dig(x, 'subscribers') === n) : undefined
        return num(dig(run, 'service', 'deliveriesPerSec'))
      }),
    )
  }
  for (const [i, path] of ['PUT', 'batch (1 item)'].entries()) {
    rows.push(
      row(`update → subscriber p99 ms, ${path}`, 1, (r) =>
        num(dig(sectionData(r, 'latency'), 'parts', i, 'eventMs', 'p99')),
      ),
    )
  }
  for (const id of filterIds) {
    rows.push(
      row(`filter (${id}) p95 ms`, 1, (r) => {
        const results = dig(sectionData(r, 'filters'), 'results')
        const f = Array.isArray(results) ? results.find((x) => dig(x, 'id') === id) : undefined
        return num(dig(f, 'ms', 'p95'))
      }),
    )
  }
  rows.push(row('filters: rows seeded', 0, (r) => num(dig(sectionData(r, 'filters'), 'rows'))))
  for (const [key, metric, digits] of [
    ['putOnePerSec', 'two instances: PUT req/s, one instance', 0],
    ['putTwoPerSec', 'two instances: PUT req/s, split over both', 0],
    ['batchOnePerSec', 'two instances: batch updates/s, one instance', 0],
    ['batchTwoPerSec', 'two instances: batch updates/s, split over both', 0],
    ['batchOneCommittedPerSec', 'two instances: batch committed/s, one instance', 0],
    ['batchTwoCommittedPerSec', 'two instances: batch committed/s, split over both', 0],
    ['samePutP99', 'two instances: PUT on A → subscriber on A p99 ms (¼ rate)', 1],
    ['crossPutP99', 'two instances: PUT on A → subscriber on B p99 ms (¼ rate)', 1],
    ['sameBatchP99', 'two instances: batch on A → subscriber on A p99 ms (¼ rate)', 1],
    ['crossBatchP99', 'two instances: batch on A → subscriber on B p99 ms (¼ rate)', 1],
  ] as const) {
    rows.push(row(metric, digits, (r) => num(dig(sectionData(r, 'instances'), 'summary', key))))
  }
  rows.push(
    row('other programs, busiest window, % of a core', 0, (r) =>
      Math.max(
        0,
        ...r.scenarios.map((x) => x.cpu.otherPercent ?? 0),
        ...r.sections.map((x) => x.otherCpuPercent ?? 0),
      ),
    ),
  )
  // Rows no store measured (a scenario left out with --only) are left out.
  return rows.filter((r) => Object.values(r.values).some((v) => v !== null && v !== undefined))
}

export function combineReports(reports: BenchReport[]): CombinedReport {
  const [first] = reports
  return {
    date: first!.date,
    node: first!.node,
    platform: first!.platform,
    cpu: first!.cpu,
    stores: reports.map((r) => r.store),
    comparison: comparisonRows(reports),
    reports,
  }
}

export function combinedMarkdown(reports: BenchReport[]): string {
  const combined = combineReports(reports)
  const [first] = reports
  const s = first!.settings
  const names = combined.stores.map((store) => STORE_NAMES[store])
  const busiest = Math.max(
    0,
    ...reports.flatMap((r) => [
      ...r.scenarios.map((x) => x.cpu.otherPercent ?? 0),
      ...r.sections.map((x) => x.otherCpuPercent ?? 0),
    ]),
  )
  const cell = (v: number | null | undefined, digits: number) =>
    v === null || v === undefined ? '–' : digits === 0 ? thousands(v) : String(round(v, digits))
  return [
    `# Benchmark ${combined.date}: ${names.join(' vs ')}`,
    '',
    `Node ${combined.node}, ${combined.cpu.model} × ${combined.cpu.cores} cores (${combined.platform}); ` +
      `${s.connections} connections, ${s.durationSec} s per scenario after ${s.warmupSec} s warm-up, ` +
      `LOG_LEVEL=${s.logLevel}. Stores, one after the other, each with a fresh service and databases: ` +
      `${reports.map((r) => r.settings.db).join('; ')}.`,
    '',
    `| metric | ${names.join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|`,
    ...combined.comparison.map(
      (r) =>
        `| ${r.metric} | ${combined.stores.map((store) => cell(r.values[store], r.digits)).join(' | ')} |`,
    ),
    '',
    `Other programs used up to ${Math.round(busiest)} % of a core during the measurements (the per-store ` +
      'reports below say where); rates are lower and latencies higher than on a quiet machine.',
    '',
    ...reports.map((r) => toMarkdown(r, 2)),
  ].join('\n')
}
