#!/bin/sh
# The Prisma CLI insists on a native schema engine before `generate`; this project never downloads it.
# Migrations are applied at start-up (src/db/migrate.ts) and created with `npm run db:migration`.
if [ "$1" = "--version" ]; then
  echo "schema-engine-stub 7.10.0"
  exit 0
fi
echo "The native Prisma schema engine is not used by this project." >&2
echo "Create migrations with 'npm run db:migration -- create --name <name>'; they are applied on start." >&2
exit 1
