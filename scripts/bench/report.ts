import os from 'node:os'
import type { Measurement } from './load'
import type { BenchOptions } from './options'

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
  { scenario: 'get', description: 'GET p99 ≤ 5 ms', value: (r) => r.latencyMs.p99, met: (v) => v <= 5 },
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
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length },
    settings: {
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      connections: options.connections,
      logLevel: options.logLevel,
      db: options.db,
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

function sectionMarkdown(section: SectionResult): string[] {
  const { columns, rows } = section.table
  return [
    `## ${section.title}`,
    '',
    `| ${columns.join(' | ')} |`,
    `|${columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    ...section.notes.flatMap((note) => [note, '']),
  ]
}

export function toMarkdown(report: BenchReport): string {
  const s = report.settings
  const lines = [
    `# Benchmark ${report.date}`,
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
    'Where the CPU went (% of one core; the service has one of the two cores to itself only if "other" is near 0):',
    '',
    '| scenario | server CPU % | server CPU µs/req | load generator CPU % | other programs CPU % |',
    '|---|---:|---:|---:|---:|',
    ...report.scenarios.map(
      (r) =>
        `| ${r.title} | ${maybe(r.cpu.serverPercent, 0)} | ${maybe(r.cpu.serverUsPerRequest, 0)} | ` +
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
  for (const section of report.sections) lines.push(...sectionMarkdown(section))
  const verdict = (t: TargetResult) =>
    t.met === null ? 'not measured' : `${t.met ? 'met' : 'missed'} (${round(t.actual!, 2)})`
  lines.push('Targets:', '', ...report.targets.map((t) => `- ${t.description}: ${verdict(t)}`), '')
  return lines.join('\n')
}
