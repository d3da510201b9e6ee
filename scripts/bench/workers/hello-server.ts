// The ceiling for the benchmark: Express 5 on this machine doing nothing but answering a tiny JSON.
// Configured like src/app.ts (no x-powered-by, no ETag) so the ratio compares only the work behind a route.
import express from 'express'

const app = express()
app.disable('x-powered-by')
app.set('etag', false)
app.get('/', (_req, res) => {
  res.json({ hello: 'world' })
})

const server = app.listen(Number(process.env.PORT ?? 3001), process.env.HOST ?? '127.0.0.1')
server.once('error', (err) => {
  process.stderr.write(`hello-server failed: ${err.message}\n`)
  process.exit(1)
})
process.once('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
