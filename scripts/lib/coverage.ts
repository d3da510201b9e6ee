// Coverage over both test passes: the SQLite pass covers most of the code, the PostgreSQL pass the
// PostgreSQL-only parts of src/db. Each pass writes istanbul's JSON; this merges them, writes the
// configured reports, and applies jest.config.ts's thresholds the way jest does.
import fs from 'node:fs'
import path from 'node:path'
import libCoverage, { type CoverageSummary } from 'istanbul-lib-coverage'
import libReport from 'istanbul-lib-report'
import reports from 'istanbul-reports'

type Metric = 'lines' | 'statements' | 'functions' | 'branches'
type Threshold = Partial<Record<Metric, number>>

export interface MergeOptions {
  rootDir: string
  inputs: string[]
  outputDir: string
  reporters: string[]
  thresholds: Record<string, Threshold>
}

/** Merges the passes' coverage, writes the reports, and returns the unmet thresholds (empty when all met). */
export function mergeCoverage({ rootDir, inputs, outputDir, reporters, thresholds }: MergeOptions): string[] {
  const map = libCoverage.createCoverageMap({})
  for (const input of inputs) {
    if (fs.existsSync(input)) map.merge(JSON.parse(fs.readFileSync(input, 'utf8')))
  }
  fs.mkdirSync(outputDir, { recursive: true })
  const context = libReport.createContext({ dir: outputDir, coverageMap: map })
  for (const reporter of reporters) {
    reports.create(reporter as Parameters<typeof reports.create>[0]).execute(context)
  }

  // As jest does: a path key covers the files under it; "global" covers every file no key names.
  const files = map.files()
  const keyed = new Set<string>()
  const failures: string[] = []
  const check = (name: string, limits: Threshold, summary: CoverageSummary) => {
    for (const [metric, floor] of Object.entries(limits) as [Metric, number][]) {
      const pct = summary[metric].pct
      if (pct < floor)
        failures.push(`coverage for ${metric} (${pct}%) does not meet "${name}" threshold (${floor}%)`)
    }
  }
  const summaryOf = (selected: string[]) => {
    const summary = libCoverage.createCoverageSummary()
    for (const file of selected) summary.merge(map.fileCoverageFor(file).toSummary())
    return summary
  }
  for (const [key, limits] of Object.entries(thresholds)) {
    if (key === 'global') continue
    const prefix = path.resolve(rootDir, key)
    const selected = files.filter((file) =>
      key.endsWith('/') ? file.startsWith(prefix + path.sep) : file === prefix,
    )
    selected.forEach((file) => keyed.add(file))
    check(key, limits, summaryOf(selected))
  }
  if (thresholds.global) {
    check('global', thresholds.global, summaryOf(files.filter((file) => !keyed.has(file))))
  }
  return failures
}
