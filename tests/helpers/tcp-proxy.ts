import net from 'node:net'

/**
 * A TCP proxy on loopback in front of `targetPort`, whose connections a test can cut: a server pointed
 * at it loses its database connections mid-query, mid-transaction or mid-commit, as a network fault or a
 * restarting database would make it.
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1') {
  const pairs = new Set<[net.Socket, net.Socket]>()
  let refusing = false
  let stalled = false
  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect(targetPort, targetHost)
    const pair: [net.Socket, net.Socket] = [client, upstream]
    pairs.add(pair)
    if (stalled) {
      client.pause()
      upstream.pause()
    }
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port

  return {
    port,
    /** Connections open through the proxy now. */
    connections: () => pairs.size,
    /** Cuts every open connection: with a TCP reset, or by closing both ends. */
    cut(how: 'reset' | 'close' = 'reset'): number {
      const cut = pairs.size
      for (const [client, upstream] of [...pairs]) {
        if (how === 'reset') {
          client.resetAndDestroy()
          upstream.resetAndDestroy()
        } else {
          client.end()
          upstream.end()
        }
      }
      return cut
    },
    /**
     * While set, nothing flows either way on any connection, old or new, and nothing is closed: the
     * database looks partitioned away. Unset, what was held flows on.
     */
    stall(on: boolean) {
      stalled = on
      for (const [client, upstream] of pairs) {
        for (const socket of [client, upstream]) {
          if (on) socket.pause()
          else socket.resume()
        }
      }
    },
    /** While set, new connections are reset at once: the database looks down. */
    refuse(on: boolean) {
      refusing = on
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
export type TcpProxy = Awaited<ReturnType<typeof startTcpProxy>>
