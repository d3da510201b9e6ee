let counter = 0

/**
 * A tenant name no other test uses (a counter, and a random tail for runs over one database), so the
 * tenant-wide views a test reads (the feed, lists, counts, stats) hold only what it wrote.
 */
export function freshTenantName(prefix = 'tenant'): string {
  counter += 1
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}
