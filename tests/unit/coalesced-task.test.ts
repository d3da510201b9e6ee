import { coalescedTask } from '../../src/services/coalesced-task'

/** A task whose runs each wait to be released, so a test decides when each one ends. */
function gatedTask() {
  const releases: (() => void)[] = []
  let runs = 0
  const task = () => {
    runs += 1
    return new Promise<void>((resolve) => releases.push(resolve))
  }
  const releaseNext = async () => {
    while (releases.length === 0) await Promise.resolve()
    releases.shift()!()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { task, releaseNext, runs: () => runs }
}

describe('a coalesced background task', () => {
  test('when run is asked many times while it runs, then it runs once more afterwards, not once per ask', async () => {
    const gated = gatedTask()
    const task = coalescedTask(gated.task, { onError: () => undefined, canRun: () => true })

    task.run()
    task.run()
    task.run()
    task.run()
    expect(gated.runs()).toBe(1)
    await gated.releaseNext()
    expect(gated.runs()).toBe(2)
    await gated.releaseNext()
    await task.idle()

    expect(gated.runs()).toBe(2)
  })

  test('when a run fails, then the error is reported and a run asked for meanwhile still happens', async () => {
    const errors: unknown[] = []
    let runs = 0
    let fail = true
    const task = coalescedTask(
      async () => {
        runs += 1
        await Promise.resolve()
        if (fail) {
          fail = false
          throw new Error('boom')
        }
      },
      { onError: (err) => errors.push(err), canRun: () => true },
    )

    task.run()
    task.run()
    await task.idle()

    expect(errors).toEqual([new Error('boom')])
    expect(runs).toBe(2)
  })

  test('when it may no longer run, then a rerun asked for is dropped and new asks do nothing', async () => {
    const gated = gatedTask()
    let allowed = true
    const task = coalescedTask(gated.task, { onError: () => undefined, canRun: () => allowed })

    task.run()
    task.run()
    allowed = false
    await gated.releaseNext()
    await task.idle()
    task.run()

    expect(gated.runs()).toBe(1)
    await expect(task.idle()).resolves.toBeUndefined()
  })
})
