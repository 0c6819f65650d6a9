// Several `latchkey serve` processes as one service. On PostgreSQL: three instances on one database share
// sessions, links and limits, send each mail once (even when one is killed mid-send) and let each link be
// used once. On SQLite: a second server on the same file is refused at start, the command line works beside it.
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Db } from '../src/infra/db.ts';
import { WebClient, textOf } from './support/client.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { freshDatabaseUrl, onPostgres } from './support/database.ts';
import { sleep, waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOOD_PASSWORD = 'Velvet-Harbor-42';
const SECRET = 'one-installation-secret-shared-by-every-instance';

const dirs: string[] = [];
const children = new Set<ChildProcess>();
const databases: Db[] = [];

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const db of databases) await db.destroy();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});



interface Instance {
  name: string;
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A real `latchkey serve` process; resolves once it answers /healthz, or rejects with what it printed. */
async function startInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/latchkey.js', 'serve'], {
    cwd: ROOT,
    env: cleanEnv({ ...env, LATCHKEY_PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw Object.assign(new Error(`${name} exited with ${child.exitCode}: ${output}`), { output });
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not start: ${output}`);
    await sleep(50);
  }
  return { name, url, child, output: () => output, exited };
}

interface Received {
  to: string;
  link: string;
}

/** An SMTP server that takes a few milliseconds per message, as a relay does, and keeps each reset link. */
async function relay(delayMs: number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        // Quoted-printable soft breaks undone, so the link reads whole.
        const raw = Buffer.concat(chunks).toString('utf8').replace(/=\r?\n/g, '');
        const link = /https?:\/\/\S+?\/reset-password\/[A-Za-z0-9_-]{43}/.exec(raw)?.[0] ?? '';
        for (const rcpt of session.envelope.rcptTo) received.push({ to: rcpt.address, link });
        setTimeout(() => callback(), delayMs);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}

if (onPostgres) {
  describe('three instances on one PostgreSQL database', () => {
    it('1,200 reset requests spread over three instances at once, one instance killed mid-send: every mail arrives, each link works once, no 5xx', { timeout: 240_000 }, async (t: TestContext) => {
      const USERS = 1200;
      const smtp = await relay(10);
      const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-instances-'));
      dirs.push(dir);
      const env: Record<string, string> = {
        LATCHKEY_DATA_DIR: dir,
        LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
        LATCHKEY_SECRET: SECRET,
        LATCHKEY_SMTP_URL: smtp.url,
        LATCHKEY_RATE_LIMIT: '0',
        LATCHKEY_RESET_LIMIT_PER_HOUR: '0',
        LATCHKEY_MAIL_LEASE: '5',
        LATCHKEY_LOG_LEVEL: 'warn',
        LATCHKEY_DATABASE_POOL_SIZE: '10',
        NODE_ENV: 'production',
      };
      const db = openDatabase(loadConfig(env, ROOT).database);
      databases.push(db);
      try {
        // Started together on an empty database: the migrations run once, under PostgreSQL's advisory lock.
        const instances = await Promise.all(['a', 'b', 'c'].map((name) => startInstance(name, env)));
        const users = Array.from({ length: USERS }, (_, i) => ({ email: `member${String(i).padStart(4, '0')}@example.com`, name: `Member ${i}` }));
        const now = Date.now();
        await db
          .insertInto('users')
          .values(
            users.map((user, i) => ({
              id: `member-${i}`,
              email: user.email,
              name: user.name,
              role: 'user' as const,
              status: 'active' as const,
              password_hash: null,
              created_at: now,
              last_login_at: null,
              password_changed_at: null,
              search_key: `${user.name} ${user.email}`.toLowerCase(),
            })),
          )
          .execute();

        // Every request on its own instance in turn, 60 in flight at once. Once 200 mails are out, one
        // instance dies without warning, mid-send; its requests then go to the others, as a load balancer would.
        let killed: Instance | null = null;
        let atKill = 0;
        const killer = waitFor('the first 200 mails', () => smtp.received.length >= 200, 120_000).then(async () => {
          killed = instances[0]!;
          killed.child.kill('SIGKILL');
          atKill = smtp.received.length;
          await killed.exited;
        });
        const statuses = await inParallel(users, 60, async (user, i) => {
          for (let attempt = 0; ; attempt++) {
            const instance = instances.filter((candidate) => candidate !== killed)[(i + attempt) % (killed ? 2 : 3)]!;
            const client = new WebClient(instance.url);
            try {
              await client.get('/reset-password');
              return (await client.post('/reset-password', { email: user.email })).status;
            } catch (error) {
              // Only the killed instance may drop a connection; the request is sent again elsewhere.
              if (instance !== instances[0] || attempt > 2) throw error;
            }
          }
        });
        assert.deepEqual(
          statuses.filter((status) => status !== 200),
          [],
          'every reset request was answered with the usual page',
        );
        await killer;
        assert.ok(killed, 'an instance was killed while mail was going out');

        // The other two finish the queue, including what the dead one had claimed once its lease runs out.
        await waitFor(
          'every mail to be sent',
          async () => {
            // Requests the dead instance had claimed are acted on by the others once its claim runs out.
            const requests = await db.selectFrom('reset_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
            const waiting = await db.selectFrom('mail_messages').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '!=', 'sent').executeTakeFirstOrThrow();
            return Number(requests.n) === 0 && Number(waiting.n) === 0;
          },
          120_000,
        );
        await sleep(1500); // a poll or two more: nothing else may go out
        const perAddress = new Map<string, number>();
        for (const mail of smtp.received) perAddress.set(mail.to, (perAddress.get(mail.to) ?? 0) + 1);
        const missing = users.filter((user) => !perAddress.has(user.email));
        const twice = [...perAddress].filter(([, count]) => count > 1);
        assert.deepEqual(missing, [], 'every user got the reset mail');
        assert.ok(twice.every(([, count]) => count === 2), 'no mail arrived more than twice');
        // Only a mail the relay accepted just before the kill, before its row was marked sent, may come twice:
        // at most the two batches of 50 the killed instance had in hand.
        assert.ok(twice.length <= 100, `${twice.length} mails arrived twice`);
        t.diagnostic(`${USERS} reset mails; ${atKill} received when instance a was killed; ${twice.length} arrived twice (accepted by the relay just before the kill)`);
        const interrupted = await db.selectFrom('mail_attempts').select('message_id').where('server', '=', 'unknown').execute();
        assert.ok(twice.length <= interrupted.length, 'each mail that came twice is recorded as an interrupted attempt');

        // The killed instance comes back, and the same link is used on all three at the same moment.
        instances[0] = await startInstance('a again', env);
        const contested = users.slice(0, 30);
        for (const user of contested) {
          const mails = smtp.received.filter((mail) => mail.to === user.email);
          const link = new URL(mails[mails.length - 1]!.link);
          const clients = instances.map((instance) => new WebClient(instance.url));
          // Each browser opens the link on its own instance (opening never uses it up)...
          for (const client of clients) {
            const opened = await client.get(link.pathname);
            assert.match(textOf(opened.html), /New Password/);
          }
          // ...and all three send the new password at once.
          const results = await Promise.all(clients.map((client) => client.post('/reset-password/new', { password: GOOD_PASSWORD, confirmation: GOOD_PASSWORD })));
          const succeeded = results.filter((page) => new URL(page.url).pathname === '/account' && page.status === 200);
          assert.equal(succeeded.length, 1, `exactly one use of ${user.email}'s link succeeds`);
          for (const page of results) assert.ok(page.status < 500, `no 5xx (got ${page.status})`);
          assert.equal(results.filter((page) => /already been used/.test(textOf(page.html))).length, 2, 'the others are told the link was used');
        }
        const used = await db.selectFrom('audit_events').select('user_id').where('type', '=', 'reset.link_used').execute();
        assert.equal(used.length, contested.length, 'the audit log shows one use per link');

        // A session started on one instance is valid on the others: sessions are shared.
        const client = new WebClient(instances[1]!.url);
        await client.get('/login');
        const loggedIn = await client.post('/login', { email: contested[0]!.email, password: GOOD_PASSWORD });
        assert.equal(new URL(loggedIn.url).pathname, '/account');
        const elsewhere = new WebClient(instances[2]!.url);
        for (const [name, value] of client.cookies) elsewhere.cookies.set(name, value);
        const account = await elsewhere.get('/account');
        assert.equal(new URL(account.url).pathname, '/account', 'the session works on another instance');
        assert.match(textOf(account.html), new RegExp(contested[0]!.email));

        for (const instance of instances) instance.child.kill('SIGTERM');
        for (const instance of instances) assert.deepEqual(await instance.exited, { code: 0, signal: null }, instance.output());
      } finally {
        await smtp.close();
      }
    });

    it('login pauses are shared: failures spread over instances add up to one pause', { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-instances-'));
      dirs.push(dir);
      const env: Record<string, string> = {
        LATCHKEY_DATA_DIR: dir,
        LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
        LATCHKEY_SECRET: SECRET,
        LATCHKEY_RATE_LIMIT: '0',
        LATCHKEY_LOG_LEVEL: 'warn',
        LATCHKEY_ADMIN_EMAIL: 'owner@example.com',
        LATCHKEY_ADMIN_PASSWORD: GOOD_PASSWORD,
      };
      const instances = await Promise.all(['a', 'b'].map((name) => startInstance(name, env)));
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 11; attempt++) {
        const client = new WebClient(instances[attempt % 2]!.url);
        await client.get('/login');
        statuses.push((await client.post('/login', { email: 'owner@example.com', password: `Wrong-Guess-${attempt}` })).status);
      }
      // Ten failures from this address pause the pair, whichever instance counted them.
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
      assert.equal(statuses[10], 429);
      for (const instance of instances) instance.child.kill('SIGTERM');
      for (const instance of instances) await instance.exited;
    });
  });
} else {
  describe('one server per SQLite database', () => {
    it('a second `latchkey serve` on the same file is refused at start with a clear message; the command line works beside the server', { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-instances-'));
      dirs.push(dir);
      const env = { LATCHKEY_DATA_DIR: dir, LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_LOG_LEVEL: 'warn' };
      const first = await startInstance('first', env);
      await assert.rejects(startInstance('second', env), (error: Error & { output?: string }) => {
        assert.match(error.output ?? '', /another Latchkey server is already running on .*latchkey\.db/);
        assert.match(error.output ?? '', /PostgreSQL/);
        assert.doesNotMatch(error.output ?? '', /\n\s+at /, 'no stack trace');
        return true;
      });
      assert.ok((await fetch(`${first.url}/healthz`)).ok, 'the first server keeps running');

      // The command line shares the file with the running server.
      const added = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const cli = spawn(process.execPath, ['bin/latchkey.js', 'users', 'add', '--email', 'beside@example.com', '--name', 'Beside Server'], { cwd: ROOT, env: cleanEnv(env) });
        let stdout = '';
        cli.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        cli.on('exit', (code) => resolve({ code, stdout }));
      });
      assert.equal(added.code, 0);
      assert.match(added.stdout, /beside@example\.com/);

      // Once the first server stops, another may start: the lock went with the process, even after SIGKILL.
      first.child.kill('SIGKILL');
      await first.exited;
      const next = await startInstance('next', env);
      next.child.kill('SIGTERM');
      assert.deepEqual(await next.exited, { code: 0, signal: null });
    });
  });
}
