// `npm test`: the whole suite on SQLite, then again on a throwaway PostgreSQL cluster; fails if either fails.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresBinaries, startPostgresCluster } from '../test/support/postgres.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : testFiles(full);
    return name.endsWith('.test.ts') ? [path.relative(ROOT, full)] : [];
  });
}

// Files named on the command line narrow the run (npm test -- test/recovery.test.ts); --sqlite or --postgres picks one pass.
const args = process.argv.slice(2);
const only = args.filter((arg) => !arg.startsWith('--'));
const files = only.length > 0 ? only : [...testFiles(path.join(ROOT, 'src')), ...testFiles(path.join(ROOT, 'test'))].sort();
const passes = args.includes('--sqlite') ? ['sqlite'] : args.includes('--postgres') ? ['postgres'] : ['sqlite', 'postgres'];

function runPass(name: string, env: NodeJS.ProcessEnv): boolean {
  process.stdout.write(`\n# ${name}: ${files.length} test files\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    cwd: ROOT,
    env,
    stdio: 'inherit',
  });
  return result.status === 0;
}

const failed: string[] = [];
if (passes.includes('sqlite')) {
  const env = { ...process.env };
  delete env.LATCHKEY_TEST_POSTGRES_URL;
  if (!runPass('SQLite', env)) failed.push('SQLite');
}
if (passes.includes('postgres')) {
  if (!postgresBinaries()) {
    process.stderr.write('\nnpm test: PostgreSQL 15 or later is not installed (Debian: apt-get install postgresql), so the PostgreSQL pass cannot run. Failing.\n');
    failed.push('PostgreSQL (not installed)');
  } else {
    const cluster = await startPostgresCluster();
    const stop = () => cluster.stop();
    process.on('SIGINT', () => {
      stop();
      process.exit(130);
    });
    try {
      if (!runPass('PostgreSQL', { ...process.env, LATCHKEY_TEST_POSTGRES_URL: cluster.url })) failed.push('PostgreSQL');
    } finally {
      stop();
    }
  }
}
if (failed.length > 0) {
  process.stderr.write(`\nnpm test: the suite failed on ${failed.join(' and ')}.\n`);
  process.exit(1);
}
process.stdout.write(`\nnpm test: the suite passed on ${passes.join(' and ')}.\n`);
