// The `latchkey` command line driven as a user would: real processes, real exit codes, one clear line on stderr, a real SMTP server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';
import { buildApp } from '../src/app.ts';
import { systemClock } from '../src/infra/clock.ts';
import { hashToken } from '../src/infra/crypto.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { startSmtpServer, resetLinkIn, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';
import { cleanEnv } from './support/net.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { openDatabase, type Db } from '../src/infra/db.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOOD_PASSWORD = 'Velvet-Harbor-42';
const BASE_URL = 'https://accounts.example.test/';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];

/** The installation's database as another process sees it, closed after use. */
async function readDatabase<T>(env: Record<string, string>, dir: string, read: (db: Db) => Promise<T>): Promise<T> {
  const db = openDatabase(loadConfig(env, dir).database);
  try {
    return await read(db);
  } finally {
    await db.destroy();
  }
}

/** A fresh data folder with its own database (a SQLite file, or a PostgreSQL database in that pass); removed after the file's tests. */
async function freshData(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-cli-'));
  dirs.push(dir);
  return { dir, env: { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir, 'db'), LATCHKEY_DATA_DIR: dir } };
}


// Each command is a whole Node process; a few at a time keep a small machine responsive.
const MAX_PROCESSES = 3;
let running = 0;
const waiting: Array<() => void> = [];

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_PROCESSES) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs a command line to its end; never blocks the event loop, so the test's SMTP server can answer it. */
function run(command: string[], args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return slot(() => runNow(command, args, env, input));
}

function runNow(command: string[], args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, env: cleanEnv(env), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `latchkey …` from the sources, as `npx latchkey` runs it during development. */
function latchkey(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return run([process.execPath, '--import', 'tsx', 'src/cli/main.ts'], args, env, input);
}

/** Puts a user straight into the database, as a step before the command under test. */
async function seedUser(dir: string, env: Record<string, string>, email: string, name: string): Promise<void> {
  const services = await createServices(loadConfig({ ...env, NODE_ENV: 'test' }, dir), systemClock, createLogger('silent'));
  try {
    await services.users.create({ email, name, password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
  } finally {
    await services.close();
  }
}

function succeeded(result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} exits 0 (stderr: ${result.stderr})`);
  assert.equal(result.stderr, '', `${what} prints nothing on stderr`);
}

/** Exit code 1 with exactly one line on stderr, and no stack trace. */
function failedWithOneLine(result: Run, what: string): string {
  assert.equal(result.code, 1, `${what} exits 1 (stdout: ${result.stdout}, stderr: ${result.stderr})`);
  assert.ok(result.stderr.endsWith('\n'), `${what}: stderr ends its line`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.match(lines[0]!, /^latchkey: \S/, `${what}: the line says who is speaking`);
  return lines[0]!;
}

function wrongUsage(result: Run, what: string): void {
  assert.equal(result.code, 2, `${what} exits 2 (stderr: ${result.stderr})`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.match(result.stderr, /latchkey help/, `${what}: points at the help`);
}

/** A port on this machine where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('latchkey command line', { concurrency: true }, () => {
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = await startSmtpServer();
  });
  after(async () => {
    await smtp.close();
  });

  it('migrate brings a new database up to date, and a second run says there is nothing to do', async () => {
    const { env } = await freshData();
    const first = await latchkey(['migrate'], env);
    succeeded(first, 'the first migrate');
    assert.match(first.stdout, /^Applied \d+ migration\(s\): /);
    const second = await latchkey(['migrate'], env);
    succeeded(second, 'the second migrate');
    assert.equal(second.stdout, 'The database schema is up to date.\n');
  });

  it('a database nobody answers for exits 1 with one line naming it, never its password', async () => {
    const { env } = await freshData();
    const refused = await latchkey(['users', 'list'], { ...env, LATCHKEY_DATABASE_URL: 'postgres://latchkey:Hidden-Secret-77@127.0.0.1:1/latchkey' });
    const line = failedWithOneLine(refused, 'users list against a closed port');
    assert.match(line, /LATCHKEY_DATABASE_URL: cannot use PostgreSQL 127\.0\.0\.1:1\/latchkey: .*ECONNREFUSED/);
    assert.doesNotMatch(refused.stderr, /Hidden-Secret-77/);
  });

  it('users add creates an administrator and a user; users list shows them and --search finds them by name or email', async () => {
    const { env } = await freshData();
    const admin = await latchkey(['users', 'add', '--email', 'Ada.Admin@Example.com', '--name', 'Ada Admin', '--password-stdin', '--admin'], env, `${GOOD_PASSWORD}\n`);
    succeeded(admin, 'users add --admin --password-stdin');
    assert.equal(admin.stdout, 'Created administrator Ada Admin <ada.admin@example.com>.\n');
    const user = await latchkey(['users', 'add', '--email', 'bo.user@example.com', '--name', 'Bo Builder'], env);
    succeeded(user, 'users add without a password');
    assert.match(user.stdout, /^Created user Bo Builder <bo\.user@example\.com> without a password: an invitation to choose one was sent \(its link is valid for 7 days\)\.$/m);

    const [list, byName, byEmail] = await Promise.all([
      latchkey(['users', 'list'], env),
      latchkey(['users', 'list', '--search', 'builder'], env),
      latchkey(['users', 'list', '--search', 'ADA.ADMIN@'], env),
    ]);
    succeeded(list, 'users list');
    const rows = list.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
    assert.deepEqual(rows, [
      ['ada.admin@example.com', 'Ada Admin', 'Administrator', 'Active', 'never logged in'],
      ['bo.user@example.com', 'Bo Builder', 'User', 'Invited', 'never logged in'],
    ]);
    succeeded(byName, 'users list --search builder');
    assert.equal(byName.stdout.trimEnd().split('\n').length, 1, byName.stdout);
    assert.match(byName.stdout, /^bo\.user@example\.com\tBo Builder\t/);
    succeeded(byEmail, 'users list --search ADA.ADMIN@');
    assert.equal(byEmail.stdout.trimEnd().split('\n').length, 1, byEmail.stdout);
    assert.match(byEmail.stdout, /^ada\.admin@example\.com\t/);
  });

  it('users add --password-stdin takes the password from a pipe, so it is in neither the shell history nor the process list', async () => {
    const { dir, env } = await freshData();
    const added = await latchkey(['users', 'add', '--email', 'piped@example.com', '--name', 'Pia Piped', '--password-stdin'], env, `${GOOD_PASSWORD}\r\nignored second line\n`);
    succeeded(added, 'users add --password-stdin');
    const services = await createServices(loadConfig({ ...env, NODE_ENV: 'test' }, dir), systemClock, createLogger('silent'));
    try {
      await services.login.login('piped@example.com', GOOD_PASSWORD, COMMAND_LINE);
      await assert.rejects(services.login.login('piped@example.com', `${GOOD_PASSWORD}\r`, COMMAND_LINE), 'the line ending is not part of the password');
    } finally {
      await services.close();
    }
    const empty = await latchkey(['users', 'add', '--email', 'empty@example.com', '--name', 'Em Pty', '--password-stdin'], env, '');
    assert.match(failedWithOneLine(empty, 'users add --password-stdin with nothing piped'), /standard input is empty/);
    const both = await latchkey(['users', 'add', '--email', 'both@example.com', '--name', 'Bo Th', '--password-stdin', '--password', GOOD_PASSWORD], env, GOOD_PASSWORD);
    wrongUsage(both, 'users add with --password and --password-stdin');
    const old = await latchkey(['users', 'add', '--email', 'old@example.com', '--name', 'Ol Dscript', '--password', GOOD_PASSWORD], env);
    assert.equal(old.code, 0, `--password still works for old scripts: ${old.stderr}`);
    assert.match(old.stderr, /^latchkey: warning: --password leaves the password in shell history/, 'but warns');
  });

  it('users add with a weak password exits 1 with every broken rule on one line, and creates nobody', async () => {
    const { dir, env } = await freshData();
    const weak = await latchkey(['users', 'add', '--email', 'weak@example.com', '--name', 'Wendy Weak', '--password-stdin'], env, 'password\n');
    const line = failedWithOneLine(weak, 'users add with "password"');
    for (const rule of ['Add an upper-case letter.', 'Add a digit.', 'Add a special character', 'This password is too common']) {
      assert.ok(line.includes(rule), `the line lists "${rule}": ${line}`);
    }
    const users = await readDatabase(env, dir, (db) => db.selectFrom('users').select('id').execute());
    assert.equal(users.length, 0);
  });

  it('users add with an email already used in another case exits 1: "This email is already used by another user"', async () => {
    const { dir, env } = await freshData();
    await seedUser(dir, env, 'dup@example.com', 'First Holder');
    const second = await latchkey(['users', 'add', '--email', 'DUP@Example.COM', '--name', 'Second Holder', '--password-stdin'], env, GOOD_PASSWORD);
    const line = failedWithOneLine(second, 'users add with the same email');
    assert.match(line, /This email is already used by another user/);
  });

  it('users reset-link prints a link from the base URL that opens the reset page of an app on the same database; only its hash is stored', async () => {
    const { dir, env } = await freshData();
    const withBase = { ...env, LATCHKEY_BASE_URL: BASE_URL };
    await seedUser(dir, withBase, 'hand@example.com', 'Hanna Hand');
    const result = await latchkey(['users', 'reset-link', 'HAND@example.com'], withBase);
    succeeded(result, 'users reset-link');
    const link = result.stdout.trim();
    assert.equal(result.stdout, link + '\n', 'the link is the only output');
    assert.match(link, /^https:\/\/accounts\.example\.test\/reset-password\/[A-Za-z0-9_-]{43}$/);
    const token = link.split('/').pop()!;

    const rows = await readDatabase(withBase, dir, (db) => db.selectFrom('reset_links').select(['token_hash', 'requested_by', 'used_at']).execute());
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]!.token_hash, token, 'the token itself is not stored');
    assert.equal(rows[0]!.token_hash, hashToken(token), 'its hash is');
    assert.equal(rows[0]!.requested_by, 'cli');
    assert.equal(rows[0]!.used_at, null);

    // The app, running on the same database, opens the link at its path.
    const services = await createServices(loadConfig({ ...withBase, LATCHKEY_PORT: '0', NODE_ENV: 'test' }, dir), systemClock, createLogger('silent'));
    const app = await buildApp(services);
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const client = new WebClient(`http://127.0.0.1:${port}`);
      const page = await client.get(new URL(link).pathname);
      assert.equal(page.status, 200);
      assert.ok(page.url.endsWith('/reset-password/new'), `landed on ${page.url}`);
      assert.match(textOf(page.html), /New Password/);
      assert.match(textOf(page.html), /Hanna Hand/);
    } finally {
      await app.close();
      await services.close();
    }
  });

  it('users send-reset delivers the reset mail through the outgoing server', async () => {
    const { dir, env } = await freshData();
    const withSmtp = { ...env, LATCHKEY_BASE_URL: BASE_URL, LATCHKEY_SMTP_URL: smtp.url };
    await seedUser(dir, withSmtp, 'mailed@example.com', 'Milo Mailed');
    const result = await latchkey(['users', 'send-reset', 'Mailed@Example.com'], withSmtp);
    succeeded(result, 'users send-reset');
    assert.equal(result.stdout, 'Password reset instructions queued for mailed@example.com.\n');
    const mail = await smtp.waitForMail((m) => m.to.includes('mailed@example.com'));
    assert.equal(mail.subject, 'Password reset for Milo Mailed');
    assert.ok(resetLinkIn(mail).startsWith(`${BASE_URL}reset-password/`), 'the link is built from the base URL');
  });

  it('users send-reset for an unknown email exits 1 with one line naming it', async () => {
    const { env } = await freshData();
    const result = await latchkey(['users', 'send-reset', 'nobody@example.com'], env);
    assert.match(failedWithOneLine(result, 'send-reset for an unknown email'), /nobody@example\.com/);
  });

  it('mail test sends a test email through the outgoing server and reports the reply', async () => {
    const { env } = await freshData();
    const result = await latchkey(['mail', 'test', 'Probe@Example.com'], { ...env, LATCHKEY_SMTP_URL: smtp.url });
    succeeded(result, 'mail test');
    assert.match(result.stdout, /^Test email accepted by smtp:\/\/127\.0\.0\.1:\d+ \(environment\): 250 /);
    const mail = await smtp.waitForMail((m) => m.to.includes('probe@example.com'));
    assert.equal(mail.subject, 'Latchkey test email');
  });

  it('mail test with no outgoing server configured exits 1 with one line that says so', async () => {
    const { env } = await freshData();
    const line = failedWithOneLine(await latchkey(['mail', 'test', 'probe@example.com'], env), 'mail test without SMTP');
    assert.match(line, /LATCHKEY_SMTP_URL/);
  });

  it('mail test to a port where nothing listens exits 1 with one line that says the connection was refused', async () => {
    const { env } = await freshData();
    const port = await closedPort();
    const line = failedWithOneLine(await latchkey(['mail', 'test', 'probe@example.com'], { ...env, LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${port}` }), 'mail test to a closed port');
    assert.match(line, /connection refused/i);
  });

  it('an invalid setting exits 1 with one line that names the variable', async () => {
    const { env } = await freshData();
    const line = failedWithOneLine(await latchkey(['users', 'list'], { ...env, LATCHKEY_RESET_TTL: '-5' }), 'users list with LATCHKEY_RESET_TTL=-5');
    assert.match(line, /LATCHKEY_RESET_TTL/);
  });

  it('an unknown command, no command at all, or a missing argument is wrong usage: exit 2', async () => {
    const { env } = await freshData();
    const [unknown, nothing, missing] = await Promise.all([
      latchkey(['frobnicate'], env),
      latchkey([], env),
      latchkey(['users', 'add', '--name', 'No Mail'], env),
    ]);
    wrongUsage(unknown, 'latchkey frobnicate');
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    wrongUsage(nothing, 'latchkey');
    assert.match(nothing.stdout, /Usage: latchkey <command>/, 'no command prints the usage');
    wrongUsage(missing, 'users add without --email');
  });
});

describe('the compiled command, as `npx latchkey` runs it', () => {
  before(() => {
    // Build now, so the test never runs a stale dist/.
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', env: cleanEnv({}) });
  });

  it('node bin/latchkey.js users list lists the users', async () => {
    const { dir, env } = await freshData();
    await seedUser(dir, env, 'built@example.com', 'Bea Built');
    const result = await run([process.execPath, 'bin/latchkey.js'], ['users', 'list'], env);
    succeeded(result, 'node bin/latchkey.js users list');
    assert.match(result.stdout, /^built@example\.com\tBea Built\tUser\tActive\tnever logged in\n$/);
  });
});
