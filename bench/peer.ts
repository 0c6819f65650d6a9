// Runs the Better Auth reference peer on this machine and load-tests it, so `npm run bench` can report it next to Latchkey.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/net.ts';

// autocannon ships no type declarations and the project may not add @types packages,
// so only the slice of its API used here is described.
interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (req: CannonRequest, context: Record<string, unknown>) => CannonRequest | null | undefined;
}
interface CannonHistogram { average: number; p50: number; p99: number; total: number }
interface CannonResult {
  requests: CannonHistogram;
  latency: CannonHistogram;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: CannonRequest[];
}) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const PEER_SOURCE = path.resolve(PROJECT_ROOT, '../shared/peers/better-auth');
const PEER_DIR = path.join(PROJECT_ROOT, 'node_modules/.cache/latchkey-bench/better-auth');
const PEER_FILES = ['README.md', 'server.mjs', 'package.json', 'package-lock.json'];
// Lives inside node_modules so `npm ci` wipes it first: its presence proves the last install finished.
const INSTALL_MARKER = path.join(PEER_DIR, 'node_modules/.latchkey-bench-installed');

/** Password given to every user made by seedPeerUsers; pass it to benchPeerLogin. */
export const PEER_PASSWORD = 'bench-password-123';

export interface BenchOptions { connections: number; durationSeconds: number }
export interface BenchResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Responses received; lets a caller reconcile the peer's side effects (e.g. mails) with what was measured. */
  completed: number;
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try { return await readFile(file); } catch { return null; }
}

/** Tail of a child's output, so a failure can say why without flooding the bench log. */
function collectTail(child: ChildProcess, limit = 4000): () => string {
  let tail = '';
  const add = (chunk: Buffer) => { tail = (tail + chunk.toString()).slice(-limit); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => tail.trim();
}

let installing: Promise<void> | undefined;

function ensurePeerInstalled(): Promise<void> {
  installing ??= installPeer().catch((err: unknown) => { installing = undefined; throw err; });
  return installing;
}

async function installPeer(): Promise<void> {
  await mkdir(PEER_DIR, { recursive: true });
  for (const name of PEER_FILES) {
    const source = await readFile(path.join(PEER_SOURCE, name));
    const target = path.join(PEER_DIR, name);
    const current = await readIfExists(target);
    if (current?.equals(source)) continue;
    // The source is read-only and a copy would inherit that mode, blocking the next refresh.
    await rm(target, { force: true });
    await writeFile(target, source, { mode: 0o644 });
  }

  const lockHash = createHash('sha256').update(await readFile(path.join(PEER_DIR, 'package-lock.json'))).digest('hex');
  if ((await readIfExists(INSTALL_MARKER))?.toString() === lockHash) return;

  process.stderr.write(`bench: installing the Better Auth peer in ${PEER_DIR} (npm ci, builds better-sqlite3, ~1 min)…\n`);
  // Under `npm run bench` npm exports npm_* settings (local prefix, package paths) that would point the nested npm at Latchkey.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const child = spawn('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEER_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = collectTail(child);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`npm ci for the Better Auth peer failed (exit ${code}):\n${tail()}`);
  await writeFile(INSTALL_MARKER, lockHash);
}


function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false); }, ms);
    const onExit = () => { clearTimeout(timer); resolve(true); };
    child.once('exit', onExit);
  });
}

export async function startPeer(opts: { port?: number } = {}): Promise<{ url: string; stop(): Promise<void> }> {
  await ensurePeerInstalled();
  const port = opts.port ?? await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dbDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-better-auth-'));

  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DB: path.join(dbDir, 'auth.db') };
  // Inherited settings must not turn on the limiter or make every reset wait on an SMTP server.
  for (const key of ['RATE_LIMIT', 'SMTP_PORT', 'SMTP_HOST', 'SMTP_STARTTLS']) delete env[key];

  const child = spawn(process.execPath, ['server.mjs'], { cwd: PEER_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = collectTail(child);
  // A crashed or interrupted bench must not leave a server holding the port.
  const killOnExit = () => { child.kill('SIGKILL'); };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off('exit', killOnExit);
      if (!(await waitForExit(child, 0))) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 5000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5000);
        }
      }
      await rm(dbDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Better Auth peer exited during startup (${child.exitCode ?? child.signalCode}):\n${tail()}`);
      }
      try {
        const res = await fetch(`${url}/__outbox`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`Better Auth peer did not answer on ${url} within 30 s:\n${tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(url).origin },
    body: JSON.stringify(body),
  });
}

export async function seedPeerUsers(url: string, count: number, password: string = PEER_PASSWORD): Promise<string[]> {
  // Unique per call so seeding the same server twice does not collide on existing emails.
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const emails = Array.from({ length: count }, (_, i) => `bench-${run}-${i}@example.test`);
  let next = 0;
  const worker = async () => {
    while (next < emails.length) {
      const i = next++;
      const res = await postJson(`${url}/api/auth/sign-up/email`, { email: emails[i], password, name: `Bench User ${i}` });
      const text = await res.text();
      if (!res.ok) throw new Error(`Better Auth sign-up of ${emails[i]} failed: ${res.status} ${text}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
  return emails;
}

async function benchPost(url: string, route: string, bodies: string[], opts: BenchOptions): Promise<BenchResult> {
  if (bodies.length === 0) throw new Error('benchmarking the Better Auth peer needs at least one email');
  let next = 0;
  const result = await autocannon({
    url: `${url}${route}`,
    connections: opts.connections,
    duration: opts.durationSeconds,
    method: 'POST',
    // Browsers send Origin on every POST, and better-auth answers 403 on sign-in (or any request carrying a cookie)
    // when it differs from its baseURL, which is http://127.0.0.1:PORT, not localhost.
    headers: { 'content-type': 'application/json', origin: new URL(url).origin },
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! }) }],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    completed: result.requests.total,
  };
}

export async function benchPeerResetRequests(url: string, emails: string[], opts: BenchOptions): Promise<BenchResult> {
  return benchPost(url, '/api/auth/request-password-reset', emails.map((email) => JSON.stringify({ email })), opts);
}

export async function benchPeerLogin(url: string, emails: string[], password: string, opts: BenchOptions): Promise<BenchResult> {
  return benchPost(url, '/api/auth/sign-in/email', emails.map((email) => JSON.stringify({ email, password })), opts);
}
