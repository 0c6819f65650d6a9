#!/usr/bin/env node
// The `latchkey` command: runs the compiled CLI (built by `npm install` through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write('latchkey: the build is missing; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}
await import(compiled);
