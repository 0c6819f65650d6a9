// The "import" scenario: `latchkey users import` of 100,000 users with their password hashes, timed as a person runs it
// (the built command line, a fresh database: a SQLite file or a new PostgreSQL database), users/s reported per database.
import { spawn } from 'node:child_process';
import { pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/infra/db.ts';
import { hashPassword } from '../src/modules/passwords/hashing.ts';
import { createDatabase, startPostgresCluster } from '../test/support/postgres.ts';
import { collectOutput, PROJECT_ROOT } from './latchkey.ts';

export interface ImportFigures {
  database: string;
  users: number;
  seconds: number;
  usersPerSecond: number;
  /** Users in the database afterwards, and user.created events: the import really wrote them. */
  usersWritten: number;
  createdEvents: number;
}

/** One hash of each format people migrate from, made by real implementations; the rows share them (nothing is hashed at import). */
async function sampleHashes(): Promise<string[]> {
  const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replaceAll('+', '.');
  const salt = randomBytes(16);
  const scryptSalt = randomBytes(16).toString('hex');
  return [
    await hashPassword('Imported-Argon2id-1'),
    bcrypt.hashSync('Imported-Bcrypt-2', 10),
    `$pbkdf2-sha512$600000$${ab64(salt)}$${ab64(pbkdf2Sync('Imported-Odoo-3', salt, 600_000, 64, 'sha512'))}`,
    `${scryptSalt}:${scryptSync('Imported-Better-Auth-4'.normalize('NFKC'), scryptSalt, 64, { N: 16384, r: 16, p: 1, maxmem: 64 * 1024 * 1024 }).toString('hex')}`,
    '',
  ];
}

/** A CSV file of `count` users: names, emails, a role, a status, and a password hash of one of the formats (or none). */
export async function writeImportFile(file: string, count: number): Promise<void> {
  const hashes = await sampleHashes();
  const lines = ['name,email,role,status,password_hash'];
  for (let i = 0; i < count; i++) {
    lines.push(`Moved Person ${i},moved${i}@import.example,${i % 50 === 0 ? 'admin' : 'user'},${i % 10 === 0 ? 'archived' : 'active'},"${hashes[i % hashes.length]}"`);
  }
  await writeFile(file, lines.join('\n') + '\n');
}

/** Runs the built `latchkey users import FILE` against the database and times it from start to exit. */
export async function benchImport(options: { file: string; users: number; label: string; databaseUrl?: string }): Promise<ImportFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-bench-import-'));
  const env = { LATCHKEY_DATABASE_URL: options.databaseUrl ?? `sqlite:${path.join(dir, 'latchkey.db')}`, LATCHKEY_DATA_DIR: dir, LATCHKEY_LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  try {
    // The schema first, so the timing is the import's alone.
    await runLatchkey(['migrate'], env);
    const started = performance.now();
    await runLatchkey(['users', 'import', options.file], env);
    const seconds = (performance.now() - started) / 1000;
    const db = openDatabase(loadConfig(env, dir).database);
    try {
      const count = async (table: 'users' | 'audit_events', type?: string) => {
        let q = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
        if (type) q = q.where('type' as never, '=', type as never);
        return Number((await q.executeTakeFirstOrThrow()).n);
      };
      return { database: options.label, users: options.users, seconds, usersPerSecond: options.users / seconds, usersWritten: await count('users'), createdEvents: await count('audit_events', 'user.created') };
    } finally {
      await db.destroy();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runLatchkey(args: string[], env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin/latchkey.js'), ...args], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`latchkey ${args.join(' ')} failed (exit ${code}):\n${output.tail()}`);
}

// `node --import tsx bench/import.ts [users]`: both databases, after `npm run build`.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const users = Number(process.argv[2] ?? 100_000);
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-import-file-'));
  const file = path.join(dir, 'users.csv');
  await writeImportFile(file, users);
  const cluster = await startPostgresCluster({ durable: true });
  try {
    for (const figures of [await benchImport({ file, users, label: 'SQLite' }), await benchImport({ file, users, label: 'PostgreSQL', databaseUrl: await createDatabase(cluster.url, 'latchkey_import') })]) {
      console.log(`${figures.database}: ${users.toLocaleString('en-US')} users in ${figures.seconds.toFixed(1)} s = ${Math.round(figures.usersPerSecond)} users/s (${figures.usersWritten} users, ${figures.createdEvents} user.created events)`);
    }
  } finally {
    cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
