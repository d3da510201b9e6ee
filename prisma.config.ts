import path from 'node:path'
import { defineConfig } from 'prisma/config'

// Loaded by the Prisma CLI before anything else: point it at our stub so it never tries to download a
// native schema engine, and keep it from phoning home.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(__dirname, 'prisma', 'schema-engine-stub.sh')
process.env.CHECKPOINT_DISABLE ??= '1'

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
})
