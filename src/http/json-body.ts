import express, { type RequestHandler } from 'express'
import { AppError, validationFailed, type Issue } from '../errors'

/** Levels of objects and arrays a body may nest, the body itself being the first. */
export const MAX_JSON_DEPTH = 32

// With the `u` flag a well-formed surrogate pair is one code point, so this finds only lone halves.
const LONE_SURROGATE = /\p{Cs}/u
// PostgreSQL's text and jsonb cannot hold U+0000 (the write fails), and SQLite's string functions stop at it.
const NUL = '\u0000'

export const nestingTooDeep = () =>
  new AppError(
    'nesting-too-deep',
    `The request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`,
    { max_depth: MAX_JSON_DEPTH },
  )

/**
 * What no field of any body may hold, checked once for all of them before any schema sees the body:
 * - nesting deeper than MAX_JSON_DEPTH (JSON.parse takes any depth, but each later recursive walk, be it
 *   JSON.stringify or a driver's serializer, would overflow the stack);
 * - strings and keys that are not well-formed Unicode (a lone surrogate from a `\ud800` escape): a UTF-8
 *   store would keep something else than the answer and the event said;
 * - U+0000 (NUL) in strings and keys, which PostgreSQL cannot store at all;
 * - `__proto__` keys: JSON.parse makes them plain data, but copying the object (as validation does)
 *   turns them into a prototype and the field silently vanishes.
 * The walk is iterative, so a hostile depth costs a loop, not the stack.
 */
export function checkJsonBody(body: unknown): void {
  if (typeof body !== 'object' || body === null) return
  const issues: Issue[] = []
  const stack: { value: object; path: string[]; depth: number }[] = [{ value: body, path: [], depth: 1 }]
  while (stack.length > 0 && issues.length < 10) {
    const { value, path, depth } = stack.pop()!
    if (depth > MAX_JSON_DEPTH) throw nestingTooDeep()
    for (const [key, child] of Object.entries(value)) {
      const at = [...path, key]
      if (!Array.isArray(value)) {
        if (key === '__proto__') {
          issues.push({ path: at.join('.'), message: 'the key __proto__ is not allowed' })
          continue
        }
        if (key.includes(NUL)) {
          issues.push({ path: path.join('.'), message: 'has a key with U+0000 (NUL), which is not allowed' })
          continue
        }
        if (LONE_SURROGATE.test(key)) {
          issues.push({
            path: path.join('.'),
            message: 'has a key that is not well-formed Unicode (a lone surrogate)',
          })
          continue
        }
      }
      if (typeof child === 'string') {
        if (child.includes(NUL)) issues.push({ path: at.join('.'), message: 'must not contain U+0000 (NUL)' })
        else if (LONE_SURROGATE.test(child))
          issues.push({
            path: at.join('.'),
            message: 'must be well-formed Unicode (it has a lone surrogate)',
          })
      } else if (typeof child === 'object' && child !== null) {
        stack.push({ value: child, path: at, depth: depth + 1 })
      }
    }
  }
  if (issues.length > 0) throw validationFailed(issues)
}

/** Express's JSON parser (bodies up to 1 MiB), then checkJsonBody; GET and HEAD bodies are never read. */
export function jsonBody(): RequestHandler {
  const parse = express.json({ limit: '1mb' })
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next()
    parse(req, res, (err?: unknown) => {
      if (err) return next(err)
      try {
        checkJsonBody(req.body)
      } catch (problem) {
        return next(problem)
      }
      next()
    })
  }
}
