// Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`): where the busy time went,
// by function (self time), by package or source file (self time), and by package including callees.
//
//   tsx scripts/bench/cpu-profile.ts DIR/CPU.….cpuprofile [--last SECONDS] [--top N]
//
// --last keeps only the final seconds of the profile: the bench stops the service right after the
// measured run, so `--last <duration>` leaves out start-up, fixtures and warm-up.
import { readFileSync } from 'node:fs'
import path from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

const IDLE = new Set(['(idle)', '(program)'])

/** Groups a frame by the package it lives in, or the project file, or the runtime. */
function ownerOf(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '')
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  if (url.startsWith('node:')) return 'node: internals'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const src = url.indexOf('/dist/src/')
  return src >= 0 ? url.slice(src + '/dist/'.length) : path.basename(url)
}

const frameName = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url ? `${ownerOf(f)}:${f.lineNumber + 1}` : ''}`.trim()

function parseArgs(argv: string[]) {
  let file: string | undefined
  let lastSec: number | undefined
  let top = 25
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--last') lastSec = Number(argv[++i])
    else if (arg === '--top') top = Number(argv[++i])
    else file = arg
  }
  if (!file || (lastSec !== undefined && !(lastSec > 0)) || !(top > 0)) {
    console.error('Usage: tsx scripts/bench/cpu-profile.ts FILE.cpuprofile [--last SECONDS] [--top N]')
    process.exit(2)
  }
  return { file, lastSec, top }
}

function main() {
  const { file, lastSec, top } = parseArgs(process.argv.slice(2))
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  // Sample times: startTime plus the running sum of deltas (µs).
  const times: number[] = []
  let t = profile.startTime
  for (const delta of profile.timeDeltas) times.push((t += delta))
  const from = lastSec === undefined ? -Infinity : profile.endTime - lastSec * 1e6

  const selfByFunction = new Map<string, number>()
  const selfByOwner = new Map<string, number>()
  const totalByOwner = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i]! < from) continue
    // A sample's weight is the time until the next one.
    const weight = (times[i + 1] ?? profile.endTime) - times[i]!
    const leaf = byId.get(profile.samples[i]!)!
    if (IDLE.has(leaf.callFrame.functionName)) {
      idle += weight
      continue
    }
    busy += weight
    const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + weight)
    add(selfByFunction, frameName(leaf.callFrame))
    add(selfByOwner, ownerOf(leaf.callFrame))
    const owners = new Set<string>()
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame
      if (frame.functionName !== '(root)') owners.add(ownerOf(frame))
    }
    for (const owner of owners) add(totalByOwner, owner)
  }

  const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1)}%`.padStart(6)
  const table = (title: string, map: Map<string, number>) => {
    console.log(`\n${title}`)
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`${pct(us)}  ${key}`)
  }
  console.log(
    `${path.basename(file)}: busy ${ms(busy)}, idle ${ms(idle)}` +
      `${lastSec === undefined ? '' : ` (last ${lastSec} s)`}; percentages are of busy time`,
  )
  table('Self time by function', selfByFunction)
  table('Self time by package / file', selfByOwner)
  table('Total time (self + callees) by package / file', totalByOwner)
}

main()
