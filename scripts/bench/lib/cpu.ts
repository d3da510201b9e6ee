import { machineBusyMs } from './processes'

export type CpuPercents<K extends string> = Record<K | 'bench', number | null> & {
  /** Everything else on the machine (other programs), % of one core. */
  other: number | null
}

/**
 * CPU use over a window, as % of one core: each named process, this (bench) process, and the rest of
 * the machine. Call the returned function at the end of the window.
 */
export function cpuWindow<K extends string>(processes: Record<K, () => number | null>) {
  const names = Object.keys(processes) as K[]
  const before = new Map(names.map((name) => [name, processes[name]()]))
  const bench = process.cpuUsage()
  const machine = machineBusyMs()
  const started = performance.now()
  return (): CpuPercents<K> => {
    const wallMs = performance.now() - started
    const percent = (ms: number | null) => (ms === null ? null : (ms / wallMs) * 100)
    const used = process.cpuUsage(bench)
    const benchMs = (used.user + used.system) / 1000
    const result = { bench: percent(benchMs) } as Record<string, number | null>
    let known: number | null = benchMs
    for (const name of names) {
      const start = before.get(name)
      const end = processes[name]()
      const ms = start === null || start === undefined || end === null ? null : end - start
      result[name] = percent(ms)
      known = known === null || ms === null ? null : known + ms
    }
    const machineAfter = machineBusyMs()
    const machineMs = machine === null || machineAfter === null ? null : machineAfter - machine
    result.other = machineMs === null || known === null ? null : Math.max(0, percent(machineMs - known)!)
    return result as CpuPercents<K>
  }
}

/** The p-th percentile (0–100) of unsorted samples, nearest rank; null when there are none. */
export function percentile(samples: number[], p: number): number | null {
  if (samples.length === 0) return null
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
