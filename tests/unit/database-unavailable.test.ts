import { isDatabaseUnavailable } from '../../src/errors'

// Shapes as the drivers throw them when a connection is cut under a request (seen in tests/chaos).
const socketError = (code: string, syscall: string) =>
  Object.assign(new Error(`${syscall} ${code}`), { code, errno: -104, syscall })
const prismaError = (code: string, cause: Record<string, unknown>) =>
  Object.assign(new Error('Invalid `prisma.$executeRaw()` invocation'), {
    name: 'PrismaClientKnownRequestError',
    code,
    meta: { driverAdapterError: { name: 'DriverAdapterError', cause } },
  })

describe('isDatabaseUnavailable', () => {
  test.each([
    ['a reset socket', socketError('ECONNRESET', 'read')],
    ['a refused connect', socketError('ECONNREFUSED', 'connect')],
    ['a broken pipe', socketError('EPIPE', 'write')],
    [
      'a terminated backend (pg)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    ['a connection failure SQLSTATE', Object.assign(new Error('connection failure'), { code: '08006' })],
    ['too many connections', Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
    ['pg: connection terminated', new Error('Connection terminated unexpectedly')],
    ['pg: not queryable', new Error('Client has encountered a connection error and is not queryable')],
    ['pg-pool: connect timeout', new Error('timeout exceeded when trying to connect')],
    ['Prisma: server closed the connection', prismaError('P1017', { kind: 'ConnectionClosed' })],
    ['Prisma: raw query on a closed connection', prismaError('P2010', { kind: 'ConnectionClosed' })],
    ['Prisma: a terminated backend', prismaError('P2039', { kind: 'postgres', code: '57P01' })],
    [
      'Prisma: pool timeout',
      Object.assign(new Error('Timed out fetching a new connection'), { code: 'P2024' }),
    ],
    [
      'the adapter, bare',
      Object.assign(new Error('ConnectionClosed'), {
        name: 'DriverAdapterError',
        cause: { kind: 'ConnectionClosed' },
      }),
    ],
  ])('when the error is %s, then it is a database outage', (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true)
  })

  test.each([
    ['a plain error', new Error('boom')],
    ['a unique violation (Prisma)', prismaError('P2002', { kind: 'UniqueConstraintViolation' })],
    ['a unique violation (pg)', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a syntax error in a raw query', prismaError('P2010', { kind: 'postgres', code: '42601' })],
    ['a string', 'ECONNRESET'],
    ['null', null],
  ])('when the error is %s, then it is not', (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false)
  })
})
