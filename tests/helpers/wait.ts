export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** from..to, both included. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Polls `check` until it holds; fails naming `what` after a generous timeout. Never a timing assertion. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(5)
  }
}
