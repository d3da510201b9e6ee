import { randomUUID } from 'node:crypto'
import type { StatusCreate } from '../../src/http/schemas/status'

let counter = 0

/** A valid create body; each call gets a fresh status_id unless one is given. */
export function makeStatus(overrides: Partial<StatusCreate> = {}): StatusCreate {
  counter += 1
  return {
    status_id: `job-${counter}-${randomUUID().slice(0, 8)}`,
    kind: 'video.transcode',
    resource_id: `video:${counter}`,
    ...overrides,
  }
}
