import { expectProblem, expectValidationError } from '../helpers/status-api'
import { bearer, buildTestApp, type TestApp } from '../helpers/test-app'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const KEY_ID = /^key_[0-9a-f]{16}$/

async function createKey(adminKey: string, scopes: string[]) {
  const res = await t.request.post('/api/keys').set(bearer(adminKey)).send({ scopes })
  expect(res.status).toBe(201)
  return res.body as { id: string; key: string; tenant_id: string; scopes: string[] }
}

describe('POST /api/keys', () => {
  test('when an admin creates a key, then 201 returns its secret once, with id, tenant, scopes and Location', async () => {
    const res = await t.request
      .post('/api/keys')
      .set(bearer(t.adminKey))
      .send({ scopes: ['status:read'] })

    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      id: expect.stringMatching(KEY_ID),
      tenant_id: 'default',
      scopes: ['status:read'],
      key: expect.stringMatching(/^st_/),
      revoked_at: null,
    })
    expect(res.body.created_at).toEqual(expect.any(String))
    expect(res.headers.location).toBe(`/api/keys/${res.body.id}`)
    expect(res.body).not.toHaveProperty('hash')
  })

  test('when a created key is used, then it has exactly the scopes it was given', async () => {
    const { key } = await createKey(t.adminKey, ['status:read'])

    const read = await t.request.get('/api/status').set(bearer(key))
    const write = await t.request.post('/api/status').set(bearer(key)).send({})

    expect(read.status).toBe(200)
    expectProblem(write, 403, 'insufficient-scope')
  })

  test("when an admin of another tenant creates a key, then the key belongs to the admin's tenant", async () => {
    const acmeAdmin = await t.makeKey('acme', ['admin'])
    const { key, tenant_id } = await createKey(acmeAdmin, ['status:read', 'status:write'])
    await t.request.post('/api/status').set(bearer(key)).send({ status_id: 'acme-only' }).expect(201)

    expect(tenant_id).toBe('acme')
    expect((await t.request.get('/api/status/acme-only').set(bearer(acmeAdmin))).status).toBe(200)
    expectProblem(
      await t.request.get('/api/status/acme-only').set(bearer(t.adminKey)),
      404,
      'status-not-found',
    )
  })

  test('when the same scope is given twice, then it is stored once', async () => {
    const { scopes } = await createKey(t.adminKey, ['status:read', 'status:read'])

    expect(scopes).toEqual(['status:read'])
  })

  test.each([
    ['an unknown scope', { scopes: ['status:delete'] }, 'scopes.0'],
    ['no scopes', { scopes: [] }, 'scopes'],
    ['scopes as a string', { scopes: 'admin' }, 'scopes'],
    ['a missing scopes field', {}, 'scopes'],
    ['an unknown field', { scopes: ['admin'], tenant: 'other' }, ''],
  ])('when the body has %s, then 400 validation-failed and no key is created', async (_what, body, path) => {
    const before = await t.services.apiKeys.list('default')

    const res = await t.request.post('/api/keys').set(bearer(t.adminKey)).send(body)

    expectValidationError(res, path)
    expect(await t.services.apiKeys.list('default')).toHaveLength(before.length)
  })
})

describe('GET /api/keys', () => {
  test('when an admin lists keys, then it sees its own tenant’s keys without any secret or hash', async () => {
    const globexAdmin = await t.makeKey('globex', ['admin'])
    const created = await createKey(globexAdmin, ['status:read'])
    const otherTenant = await t.services.apiKeys.create('initech', ['status:read'])

    const res = await t.request.get('/api/keys').set(bearer(globexAdmin))

    expect(res.status).toBe(200)
    const ids = res.body.items.map((key: { id: string }) => key.id)
    expect(ids).toContain(created.id)
    expect(ids).not.toContain(otherTenant.key.id)
    expect(res.body.items).toHaveLength(2)
    for (const item of res.body.items) {
      expect(Object.keys(item).sort()).toEqual([
        'created_at',
        'id',
        'prefix',
        'revoked_at',
        'scopes',
        'tenant_id',
      ])
      expect(item.tenant_id).toBe('globex')
    }
    expect(res.text).not.toContain(created.key)
    expect(res.text).not.toContain(globexAdmin)
  })
})

describe('DELETE /api/keys/:id', () => {
  test('when an admin revokes a key, then 204 and that key is refused with 401 while others still work', async () => {
    const victim = await createKey(t.adminKey, ['status:read'])
    const bystander = await createKey(t.adminKey, ['status:read'])
    expect((await t.request.get('/api/status').set(bearer(victim.key))).status).toBe(200)

    const res = await t.request.delete(`/api/keys/${victim.id}`).set(bearer(t.adminKey))

    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    expectProblem(await t.request.get('/api/status').set(bearer(victim.key)), 401, 'unauthenticated')
    expect((await t.request.get('/api/status').set(bearer(bystander.key))).status).toBe(200)
    const listed = await t.request.get('/api/keys').set(bearer(t.adminKey))
    const revoked = listed.body.items.find((key: { id: string }) => key.id === victim.id)
    expect(revoked.revoked_at).toEqual(expect.any(String))
  })

  test('when a revoked key is revoked again, then 404', async () => {
    const { id } = await createKey(t.adminKey, ['status:read'])
    await t.request.delete(`/api/keys/${id}`).set(bearer(t.adminKey)).expect(204)

    const res = await t.request.delete(`/api/keys/${id}`).set(bearer(t.adminKey))

    expectProblem(res, 404, 'not-found')
  })

  test("when an admin revokes another tenant's key, then 404 and that key keeps working", async () => {
    const other = await t.services.apiKeys.create('umbrella', ['status:read'])

    const res = await t.request.delete(`/api/keys/${other.key.id}`).set(bearer(t.adminKey))

    expectProblem(res, 404, 'not-found')
    expect((await t.request.get('/api/status').set(bearer(other.secret))).status).toBe(200)
  })

  test('when no key has that well-formed id, then 404', async () => {
    const res = await t.request.delete('/api/keys/key_0000000000000000').set(bearer(t.adminKey))

    expectProblem(res, 404, 'not-found')
  })

  test.each(['not-a-key', 'key_XYZ', 'key_0000000000000000a'])(
    'when the id %p is malformed, then 400 validation-failed',
    async (id) => {
      const res = await t.request.delete(`/api/keys/${id}`).set(bearer(t.adminKey))

      expectValidationError(res, 'id')
    },
  )
})

describe('storage', () => {
  test('when a key is created, then the api_keys table holds its hash and never the secret', async () => {
    const { id, key } = await createKey(t.adminKey, ['status:read'])

    const rows = await t.prisma.$queryRawUnsafe<Record<string, unknown>[]>('SELECT * FROM api_keys')

    expect(rows.map((row) => row.id)).toContain(id)
    const dump = JSON.stringify(rows)
    expect(dump).not.toContain(key)
    // Nor any long piece of it: only the short display prefix may be kept.
    expect(dump).not.toContain(key.slice(3, 23))
    const row = rows.find((r) => r.id === id)!
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(row.hash).not.toBe(key)
  })
})
