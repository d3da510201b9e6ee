import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'coverage/',
    'test_reports/',
    'src/db/generated/',
    'src/db/generated-postgresql/',
    'bench/results/',
    // A mutation run's copies of the project (npm run mutation).
    '.stryker-tmp/',
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // SQL lives in src/db: nothing else imports Prisma, its generated clients, pg or better-sqlite3, or
    // builds SQL with the Prisma namespace (types of src/db/prisma are fine). One file waits to move: the
    // Socket.IO adapter's LISTEN connection (issue 13).
    files: ['src/**/*.ts'],
    ignores: ['src/db/**', 'src/client/**', 'src/realtime/cluster.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@prisma/*', 'pg', 'better-sqlite3', '**/db/generated*', '**/db/generated*/**'],
              message: 'only src/db talks to the database',
            },
            {
              regex: '/db/prisma$',
              importNames: ['Prisma', 'PrismaClient'],
              allowTypeImports: true,
              message: 'SQL lives in src/db: add a repository function there',
            },
          ],
        },
      ],
    },
  },
  // Layers (each folder's README says what it may import): domain ← db ← services ← http, realtime.
  ...[
    {
      folder: 'domain',
      regex: '^(?!\\./|\\.\\./errors$|zod$)',
      message: 'src/domain is pure: its own files, src/errors and zod only (no I/O, no layer above)',
    },
    {
      folder: 'db',
      regex: '^\\.\\./(services|http|realtime|app|server)(/|$)',
      message: 'src/db may import src/domain and src/errors, nothing above it',
    },
    {
      folder: 'services',
      regex: '^(\\.\\./(http|realtime|app|server)(/|$)|express$|socket\\.io$)',
      message: 'src/services knows nothing of HTTP or Socket.IO',
    },
    {
      folder: 'http',
      regex: '^(\\.\\./)+(db|realtime)(/|$)',
      message: 'src/http calls services; it never imports src/db or src/realtime',
    },
    {
      folder: 'realtime',
      regex: '^(\\.\\./db(/|$)|\\.\\./http/error-handler$)',
      message: 'src/realtime depends on services and schemas, never on src/db or the HTTP error handler',
    },
  ].map(({ folder, regex, message }) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex, message }] }],
    },
  })),
  {
    // The client runs in browsers too: at run time it may use only its own files, socket.io-client and
    // what browsers and Node 20 share (fetch, crypto.randomUUID). The server's modules give it types only.
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|socket\\.io-client$)',
              allowTypeImports: true,
              message:
                'src/client may import only its own files and socket.io-client (other modules: `import type`)',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['Buffer', 'process', 'require', '__dirname', '__filename', 'global', 'setImmediate'].map(
          (name) => ({
            name,
            message: 'not available in browsers',
          }),
        ),
      ],
    },
  },
  {
    // The command line talks to the service through the typed client alone, so the installed package's
    // command never loads the server, Prisma or Express.
    files: ['src/cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|\\.\\./client$|cli-progress$|node:)',
              message: 'src/cli may import only its own files, ../client, cli-progress and node: built-ins',
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard is bundled for browsers: from the service's own modules it may use the client and the
    // lifecycle's constants (both free of Node-only code) at run time; anything else for its types alone.
    files: ['dashboard/src/**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+src/(?!client$|domain/transitions$)',
              allowTypeImports: true,
              message:
                'the dashboard may import only src/client and src/domain/transitions from the service (other modules: `import type`)',
            },
          ],
        },
      ],
    },
  },
)
