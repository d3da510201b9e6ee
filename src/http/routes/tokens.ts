import { Router } from 'express'
import type { TokenService } from '../../services/token-service'
import { json } from '../answers'
import { mount, operations } from '../operation'
import { TokenCreatedSchema, TokenCreateSchema } from '../schemas/tokens'

export const tokenOperations = operations({
  createToken: {
    method: 'post',
    path: '/api/tokens',
    scope: 'status:read',
    tag: 'Tokens',
    summary: 'A browser token: read-only, for these statuses, for a while',
    description:
      'For a page that shows its user the progress of their own work without an API key (SPEC §13). The token reads `GET /api/status/:id` (with `wait=`), its history, `GET /api/status?parent_id=`, Socket.IO `subscribe` and the event stream, for the named statuses only, or for `parent_id` and all its descendants (SPEC §12; those made later too): a status outside them is `404`, every other operation `403`. It expires after `ttl_s` (60–86,400 s, default 900: then `401 token-expired`) and dies with the key that issued it. Tokens are signed, not stored.',
    body: TokenCreateSchema,
    responses: { '201': { description: 'Issued', content: json(TokenCreatedSchema) } },
  },
})

/** Mounted at `/api`. */
export function tokenRoutes({ tokens }: { tokens: TokenService }) {
  return mount(Router(), '/api', tokenOperations, {
    createToken: async ({ body }, req, res) => {
      res.status(201).json(tokens.issue(req.auth!, body))
    },
  })
}
