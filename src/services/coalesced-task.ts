/**
 * A background task that runs at most once at a time. `run()` while it runs asks for one more run right
 * after it, however many times it is called: a burst of wake-ups costs one extra pass, never a queue.
 * A failed run is handed to `onError`; a run asked for meanwhile still happens. `canRun` is checked
 * before every run (a stopped owner, a sink waiting out its retry, runs no more).
 */
export function coalescedTask(
  task: () => Promise<void>,
  options: { onError: (err: unknown) => void; canRun: () => boolean },
) {
  let running: Promise<void> | null = null
  let again = false
  return {
    run(): void {
      if (!options.canRun()) return
      if (running) {
        again = true
        return
      }
      running = (async () => {
        do {
          again = false
          try {
            await task()
          } catch (err) {
            options.onError(err)
          }
        } while (again && options.canRun())
        running = null
      })()
    },
    /** Resolves when no run is under way (none asked for meanwhile either). */
    idle: (): Promise<void> => running ?? Promise.resolve(),
  }
}

export type CoalescedTask = ReturnType<typeof coalescedTask>
