import pino, { type Logger } from 'pino'

function prettyAvailable(): boolean {
  try {
    require.resolve('pino-pretty')
    return true
  } catch {
    return false
  }
}

/** JSON logs; human-friendly ones only when a person is watching a terminal. */
export function createLogger(level: string): Logger {
  const pretty = process.stdout.isTTY && prettyAvailable()
  return pino({
    level,
    ...(pretty && { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }),
  })
}
