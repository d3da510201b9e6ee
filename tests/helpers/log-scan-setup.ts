import { leaksInServerOutput } from './log-scan'

// After a test file's last test: had any server it started logged a secret, the file fails with the lines.
afterAll(() => {
  const leaks = leaksInServerOutput()
  if (leaks.length > 0) {
    throw new Error(
      `A secret reached the server's output:\n${leaks.map((l) => `${l.process}: ${l.line}`).join('\n')}`,
    )
  }
})
