// The Latchkey side of the bench: build, seed users and reset tokens, run the real server process, read its memory and database.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/infra/clock.ts';
import { newId } from '../src/infra/crypto.ts';
import { createLogger } from '../src/infra/logger.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { createServices } from '../src/services.ts';
import { BENCH_REDIRECT_URI, type BenchApplication } from './oidc.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Password of every seeded user. */
export const SEED_PASSWORD = 'Harbor-Velvet-5521';

/** The SQLite file of a bench folder, used when no PostgreSQL URL is given. */
export const sqliteFile = (dir: string) => path.join(dir, 'latchkey.db');

/**
 * Settings of the server under test; the bench process opens the same database with the same settings. The data
 * folder (and so the generated secret key) is shared by every instance of one run, as instances must share it.
 */
export function serverEnv(dir: string, port: number, databaseUrl?: string): Record<string, string> {
  return {
    LATCHKEY_DATABASE_URL: databaseUrl ?? `sqlite:${sqliteFile(dir)}`,
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_HOST: '127.0.0.1',
    LATCHKEY_PORT: String(port),
    LATCHKEY_RATE_LIMIT: '0',
    LATCHKEY_RESET_LIMIT_PER_HOUR: '0',
    LATCHKEY_LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
}

/** Output of a child process, kept short: enough to say why it failed. */
export function collectOutput(child: ChildProcess, limit = 8000): { tail(): string; lines(): string[] } {
  let tail = '';
  const lines: string[] = [];
  let partial = '';
  const add = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-limit);
    partial += text;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) if (line.trim() !== '' && lines.length < 10_000) lines.push(line);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return { tail: () => tail.trim(), lines: () => (partial.trim() ? [...lines, partial] : lines) };
}

export async function run(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${code}):\n${output.tail()}`);
}


export interface UserGroup {
  emails: string[];
  ids: string[];
}

export interface Seeded {
  groups: Record<string, UserGroup>;
  /** Reset tokens issued with linkForHand, one per user, by group. */
  tokens: Record<string, string[]>;
  seedMs: number;
  tokenMs: number;
  /** A confidential first-party application, registered when asked for (the oidc scenario). */
  application: BenchApplication | null;
  /** A key for the JSON API with the users:read scope (the api-search scenario). */
  apiKey: string;
}

/**
 * Creates the database (migrations through the app's own services), one user through the user directory,
 * then clones that row for every other user in one transaction, so all share one argon2id hash and
 * any derived column (such as a search key) stays right. Then issues one reset link per user of the
 * groups that need tokens. Runs before the server starts; closes everything it opened.
 */
export async function seed(
  dir: string,
  port: number,
  groups: Record<string, { count: number; tokens: boolean }>,
  databaseUrl?: string,
  withApplication = false,
): Promise<Seeded> {
  const config = loadConfig(serverEnv(dir, port, databaseUrl), dir);
  const services = await createServices(config, systemClock, createLogger('warn'));
  try {
    const started = performance.now();
    const template = await services.users.create({ email: 'seed@bench.example', name: 'Member Seed', password: SEED_PASSWORD, role: 'user' }, COMMAND_LINE);
    const row = await services.db.selectFrom('users').selectAll().where('id', '=', template.id).executeTakeFirstOrThrow();
    const swap = (value: unknown, email: string, name: string): unknown =>
      typeof value === 'string'
        ? value.split(template.email).join(email).split(template.name).join(name).split(template.name.toLowerCase()).join(name.toLowerCase())
        : value;

    const result: Seeded = { groups: {}, tokens: {}, seedMs: 0, tokenMs: 0, application: null, apiKey: '' };
    const rows: (typeof row)[] = [];
    for (const [group, { count }] of Object.entries(groups)) {
      const members: UserGroup = { emails: [], ids: [] };
      for (let i = 0; i < count; i++) {
        // Letters glued to digits: no piece of the name or email can appear in the bench passwords (the "personal" rule).
        const email = `${group}${i}x@bench.example`;
        const name = `Member ${group.toUpperCase()}${i}X`;
        const id = newId();
        const clone = Object.fromEntries(Object.entries(row).map(([key, value]) => [key, swap(value, email, name)])) as typeof row;
        rows.push({ ...clone, id, created_at: row.created_at });
        members.emails.push(email);
        members.ids.push(id);
      }
      result.groups[group] = members;
    }
    await services.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('users').values(rows.slice(i, i + 500)).execute();
    });
    result.seedMs = performance.now() - started;

    const tokensStarted = performance.now();
    for (const [group, { tokens }] of Object.entries(groups)) {
      if (!tokens) continue;
      const list: string[] = [];
      for (const id of result.groups[group]!.ids) {
        const { link } = await services.recovery.linkForHand(id, COMMAND_LINE);
        list.push(new URL(link).pathname.split('/').pop()!);
      }
      result.tokens[group] = list;
    }
    result.tokenMs = performance.now() - tokensStarted;

    result.apiKey = (await services.apiKeys.create({ name: 'Bench', scopes: ['users:read'], expiresAt: null }, COMMAND_LINE)).secret;
    if (withApplication) {
      const { application, secret } = await services.applications.create(
        { name: 'Bench Wiki', kind: 'confidential', firstParty: true, redirectUris: [BENCH_REDIRECT_URI], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email', 'offline_access'] },
        COMMAND_LINE,
      );
      result.application = { clientId: application.id, secret: secret!, redirectUri: BENCH_REDIRECT_URI };
    }
    return result;
  } finally {
    await services.close();
  }
}

export interface LatchkeyServer {
  url: string;
  pid: number;
  /** Resident memory of the server process, in MiB (VmRSS), and its peak so far (VmHWM). */
  memory(): Promise<{ rss: number; peak: number }>;
  /** Warnings and errors the server logged (pino lines at level ≥ 40), and any line that is not JSON. */
  problems(): string[];
  /** Throws, with the end of the server's output, if the process is gone. */
  assertRunning(): void;
  stop(): Promise<number | null>;
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false); }, ms);
    const onExit = () => { clearTimeout(timer); resolve(true); };
    child.once('exit', onExit);
  });
}

/** Spawns `node bin/latchkey.js serve` (the built server) and waits until /healthz answers. */
export async function startServer(
  dir: string,
  port: number,
  opts: { cpuProfileDir?: string; env?: Record<string, string>; databaseUrl?: string } = {},
): Promise<LatchkeyServer> {
  // Only the bench's settings: nothing inherited from the shell may turn a limit back on or point elsewhere.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LATCHKEY_')));
  Object.assign(env, serverEnv(dir, port, opts.databaseUrl), opts.env);
  const nodeArgs = opts.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir] : [];
  // Working directory = the temp dir, so no .env of the checkout is read.
  const child = spawn(process.execPath, [...nodeArgs, path.join(PROJECT_ROOT, 'bin/latchkey.js'), 'serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  const killOnExit = () => { child.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const url = `http://127.0.0.1:${port}`;

  let stopping: Promise<number | null> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.off('exit', killOnExit);
      if (!(await exited(child, 0))) {
        child.kill('SIGTERM');
        if (!(await exited(child, 15_000))) {
          child.kill('SIGKILL');
          await exited(child, 5000);
        }
      }
      return child.exitCode;
    })();
    return stopping;
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the Latchkey server exited during startup (${child.exitCode ?? child.signalCode}):\n${output.tail()}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the Latchkey server did not answer ${url}/healthz within 30 s:\n${output.tail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  const assertRunning = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the Latchkey server died (${child.exitCode ?? child.signalCode}):\n${output.tail()}`);
    }
  };
  return {
    url,
    pid: child.pid!,
    assertRunning,
    async memory() {
      assertRunning();
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
    },
    problems() {
      return output.lines().filter((line) => {
        try {
          return (JSON.parse(line) as { level?: number }).level! >= 40;
        } catch {
          return true;
        }
      });
    },
    stop,
  };
}

/** Where a run's servers keep their data: SQLite in the bench folder, or one PostgreSQL database for every instance. */
export interface DatabaseTarget {
  /** Short name for flags, files and JSON: sqlite, postgres-1, postgres-2. */
  name: string;
  /** Column heading in the report. */
  label: string;
  /** A postgres:// URL, or undefined for SQLite in the bench folder. */
  databaseUrl?: string;
  /** Server processes on that database; requests are spread across them. */
  instances: number;
}

/** Starts `target.instances` server processes on the target's database, each on a port of its own. */
export async function startInstances(
  dir: string,
  ports: number[],
  target: DatabaseTarget,
  opts: { cpuProfileDir?: string; env?: Record<string, string> } = {},
): Promise<LatchkeyServer[]> {
  const servers: LatchkeyServer[] = [];
  try {
    for (const port of ports.slice(0, target.instances)) servers.push(await startServer(dir, port, { ...opts, databaseUrl: target.databaseUrl }));
    return servers;
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
}

/**
 * A view of the servers' database for checking what the load really did, on SQLite (read-only, WAL: reads never
 * block the server) or PostgreSQL. Queries use `?` placeholders; the PostgreSQL side numbers them.
 */
export interface DatabaseView {
  count(sql: string, ...params: unknown[]): Promise<number>;
  mailByStatus(since: number, template: string): Promise<Record<string, number>>;
  /** Mail not yet finished by the worker. */
  pendingMail(): Promise<number>;
  close(): Promise<void>;
}

function viewOf(count: DatabaseView['count'], rows: (sql: string, ...params: unknown[]) => Promise<{ status: string; n: number }[]>, close: () => Promise<void>): DatabaseView {
  return {
    count,
    async mailByStatus(since, template) {
      const found = await rows('select status, count(*) as n from mail_messages where created_at >= ? and template = ? group by status', since, template);
      return Object.fromEntries(found.map((r) => [r.status, Number(r.n)]));
    },
    pendingMail: () => count("select count(*) from mail_messages where status in ('queued', 'sending')"),
    close,
  };
}

export function openDatabaseView(dir: string, databaseUrl?: string): DatabaseView {
  if (databaseUrl?.startsWith('postgres')) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const numbered = (sql: string) => { let n = 0; return sql.replace(/\?/g, () => `$${++n}`); };
    const query = async (sql: string, params: unknown[]) => (await pool.query(numbered(sql), params)).rows as Record<string, unknown>[];
    return viewOf(
      async (sql, ...params) => Number(Object.values((await query(sql, params))[0] ?? {})[0] ?? 0),
      async (sql, ...params) => (await query(sql, params)) as { status: string; n: number }[],
      () => pool.end(),
    );
  }
  const db = new Database(sqliteFile(dir), { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return viewOf(
    async (sql, ...params) => (db.prepare(sql).pluck().get(...params) as number | undefined) ?? 0,
    async (sql, ...params) => db.prepare(sql).all(...params) as { status: string; n: number }[],
    async () => { db.close(); },
  );
}
