import { randomUUID } from 'node:crypto'
import type { StatusCreate } from '../../src/http/schemas/status'

let counter = 0

/** A create body without the times, which the wire sends as text and the services take as Dates. */
export type CreateBody = Omit<StatusCreate, 'start_by' | 'deadline_at'>

/** A valid create body; each call gets a fresh status_id unless one is given. */
export function makeStatus(overrides: Partial<CreateBody> = {}): CreateBody {
  counter += 1
  return {
    status_id: `job-${counter}-${randomUUID().slice(0, 8)}`,
    kind: 'video.transcode',
    resource_id: `video:${counter}`,
    ...overrides,
  }
}
