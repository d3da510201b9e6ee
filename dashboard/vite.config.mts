import path from 'node:path'
import { defineConfig } from 'vite'

// Built into dist/dashboard, which the service serves at `/` (src/http/routes/dashboard.ts).
// `npm run dev:dashboard` serves the sources with reload, forwarding the API to a service on :3000.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.resolve(import.meta.dirname, '../dist/dashboard'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': 'http://localhost:3000',
      '/socket.io': { target: 'http://localhost:3000', ws: true },
    },
  },
})
