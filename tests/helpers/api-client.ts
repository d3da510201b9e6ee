import { createStatusTrackerClient, type ClientOptions, type StatusTrackerClient } from '../../src/client'

const opened = new Set<StatusTrackerClient>()

/**
 * A client of the server at `baseUrl` with `key`: Socket.IO over WebSocket only, reconnecting and
 * retrying after short waits so that tests of restarts do not sit idle. Close them with closeClients().
 */
export function clientOf(
  server: { baseUrl: string },
  key: string,
  options: Partial<ClientOptions> = {},
): StatusTrackerClient {
  const client = createStatusTrackerClient({
    baseUrl: server.baseUrl,
    apiKey: key,
    backoff: { baseMs: 50, maxMs: 1_000 },
    socket: { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 1_000 },
    ...options,
  })
  opened.add(client)
  return client
}

/**
 * Closes every subscription of every client made by clientOf(); for afterEach. The clients stay usable
 * (and listed), so one made in beforeAll has its later subscriptions closed too.
 */
export async function closeClients(): Promise<void> {
  await Promise.all([...opened].map((client) => client.close()))
}
