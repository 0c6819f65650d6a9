// Operating Latchkey: the probes a load balancer calls, the metrics Prometheus scrapes, and a stop that loses nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices, type Services } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { sleep, waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const METRICS_TOKEN = 'metrics-token-for-the-scraper-0123456789';
const NEW_PASSWORD = 'Quiet-Lantern-77';


async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** One sample's value from the Prometheus text, e.g. sample(text, 'latchkey_logins_total{outcome="ok"}'). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is in /metrics`);
  return Number(line.slice(series.length + 1));
}

// ---------------------------------------------------------------------------------------------------------

describe('health checks for a load balancer', () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });
  const start = async (options: Parameters<typeof startTestApp>[0]) => {
    const app = await startTestApp(options);
    apps.push(app);
    return app;
  };

  it('a running instance says it is up (/healthz) and ready (/readyz), naming its database without credentials', async () => {
    const lk = await start({});
    assert.deepEqual(await getJson(`${lk.url}/healthz`), { status: 200, body: { status: 'ok' } });
    const ready = await getJson(`${lk.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.deepEqual(ready.body.checks, { database: 'ok', migrations: 'current', mailWorker: 'alive' });
    assert.match(String(ready.body.database), /^(SQLite|PostgreSQL) /);
    assert.doesNotMatch(JSON.stringify(ready.body), /:\/\/[^/]*@|password/i);
  });

  it('an instance meant to send mail whose mail worker has stopped is not ready, and says why', async () => {
    const lk = await start({ startWorker: false });
    const ready = await getJson(`${lk.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'not ready');
    assert.deepEqual(ready.body.problems, ['the mail worker is stopped']);
    // Still up: the process answers, it just should not get traffic.
    assert.equal((await fetch(`${lk.url}/healthz`)).status, 200);
  });

  it('a web-only instance (LATCHKEY_MAIL_WORKER=off) is ready without a mail worker', async () => {
    const lk = await start({ startWorker: false, env: { LATCHKEY_MAIL_WORKER: 'off' } });
    const ready = await getJson(`${lk.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((ready.body.checks as Record<string, string>).mailWorker, 'off');
  });

  it('an instance whose database does not answer is not ready, and names the database (never its URL)', async () => {
    const lk = await start({});
    await lk.services.db.destroy();
    const ready = await getJson(`${lk.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((ready.body.checks as Record<string, string>).database, 'no answer');
    assert.deepEqual(ready.body.problems, [`the database (${String(ready.body.database)}) does not answer`]);
    assert.ok(!JSON.stringify(ready.body).includes(lk.services.config.database.kind === 'postgres' ? lk.services.config.database.url : 'sqlite:'));
  });

  it('an instance whose database schema is behind its code is not ready until `latchkey migrate` runs', async () => {
    const lk = await start({});
    await sql`delete from kysely_migration where name = (select max(name) from kysely_migration)`.execute(lk.services.db);
    const ready = await getJson(`${lk.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((ready.body.checks as Record<string, string>).migrations, 'pending');
    assert.match(String((ready.body.problems as string[])[0]), /latchkey migrate/);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('metrics for Prometheus', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_METRICS_TOKEN: METRICS_TOKEN } });
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  const scrape = async (base = lk.url, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}/metrics`, { headers });
    return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
  };

  it('from an allowed address (loopback by default) /metrics answers in the Prometheus text format', async () => {
    const metrics = await scrape();
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.text, /^# TYPE latchkey_http_requests_total counter$/m);
    assert.match(metrics.text, /^# TYPE latchkey_http_request_duration_seconds histogram$/m);
    assert.match(metrics.text, /^process_resident_memory_bytes \d+/m);
    assert.equal(sample(metrics.text, 'latchkey_mail_queue_depth'), 0);
    assert.equal(sample(metrics.text, 'latchkey_mail_oldest_due_age_seconds'), 0);
  });

  it('from an address outside LATCHKEY_METRICS_ALLOW /metrics is an ordinary 404 page, unless the bearer token comes with the request', async () => {
    const guarded = await startTestApp({ env: { LATCHKEY_METRICS_ALLOW: '10.0.0.0/8,fd00::/8', LATCHKEY_METRICS_TOKEN: METRICS_TOKEN } });
    try {
      const unknownPage = await fetch(`${guarded.url}/no-such-page`);
      const refused = await scrape(guarded.url);
      assert.equal(refused.status, 404);
      assert.equal(textOf(refused.text), textOf(await unknownPage.text()), 'the refusal looks like any unknown address');
      assert.equal((await scrape(guarded.url, { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}x` })).status, 404);
      assert.equal((await scrape(guarded.url, { authorization: METRICS_TOKEN })).status, 404, 'the token only counts as a bearer token');
      const allowed = await scrape(guarded.url, { authorization: `Bearer ${METRICS_TOKEN}` });
      assert.equal(allowed.status, 200);
      assert.match(allowed.text, /latchkey_http_requests_total/);
    } finally {
      await guarded.close();
    }
  });

  it('behind a trusted proxy on the same host, a client is judged by its own address, not the proxy\'s loopback', async () => {
    const proxied = await startTestApp({ env: { LATCHKEY_TRUST_PROXY: '1' } });
    try {
      assert.equal((await scrape(proxied.url, { 'x-forwarded-for': '203.0.113.9' })).status, 404);
      assert.equal((await scrape(proxied.url, { 'x-forwarded-for': '127.0.0.1' })).status, 200);
    } finally {
      await proxied.close();
    }
  });

  it('the counters move after a real reset request, a refused and a used link, a failed and a good login, and the mails sent', async () => {
    const email = 'metered.person@example.com';
    await lk.createUser({ email, name: 'Metered Person' });
    const before = (await scrape()).text;

    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    assert.equal((await client.post('/reset-password', { email })).status, 200);
    const link = resetLinkIn(await smtp.waitForMail((m) => m.to.includes(email)));
    await client.get(new URL(link).pathname);
    assert.equal((await client.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: 'something else' })).status, 400);
    const changed = await client.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.match(changed.url, /\/account/);
    await smtp.waitForMail((m) => m.to.includes(email) && /changed/i.test(m.subject));
    await lk.services.worker.drain();

    const stranger = new WebClient(lk.url);
    await stranger.get('/login');
    assert.equal((await stranger.post('/login', { email, password: GOOD_PASSWORD })).status, 401);
    await stranger.get('/login');
    assert.match((await stranger.post('/login', { email, password: NEW_PASSWORD })).url, /\/account/);

    const afterwards = (await scrape()).text;
    const moved = (series: string) => sample(afterwards, series) - (before.includes(`${series} `) ? sample(before, series) : 0);
    assert.equal(moved('latchkey_reset_requests_total'), 1);
    assert.equal(moved('latchkey_reset_links_total{outcome="refused"}'), 1);
    assert.equal(moved('latchkey_reset_links_total{outcome="used"}'), 1);
    assert.equal(moved('latchkey_logins_total{outcome="failed"}'), 1);
    assert.equal(moved('latchkey_logins_total{outcome="ok"}'), 1);
    assert.equal(moved('latchkey_mails_total{outcome="sent"}'), 2, 'the reset mail and the "password changed" mail');
    assert.equal(moved('latchkey_mails_total{outcome="failed"}'), 0);
    // Requests are labelled by route pattern: the link with its token is one series for every link.
    assert.equal(moved('latchkey_http_requests_total{method="GET",route="/reset-password/:token",status="303"}'), 1);
    assert.equal(moved('latchkey_http_requests_total{method="POST",route="/login",status="401"}'), 1);
    assert.match(afterwards, /^latchkey_http_request_duration_seconds_count\{method="POST",route="\/reset-password"\} \d+$/m);
  });

  it('no reset token, email address or name appears in /metrics, whatever URLs were asked for', async () => {
    const email = 'private.person@example.com';
    await lk.createUser({ email, name: 'Private Person' });
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    await client.post('/reset-password', { email });
    const token = new URL(resetLinkIn(await smtp.waitForMail((m) => m.to.includes(email)))).pathname.split('/').pop()!;
    await fetch(`${lk.url}/reset-password/${token}`, { redirect: 'manual' });
    await fetch(`${lk.url}/no-such-page/${token}?email=${encodeURIComponent(email)}`);

    const text = (await scrape()).text;
    for (const secret of [token, email, encodeURIComponent(email), 'private.person', 'Private Person', METRICS_TOKEN]) {
      assert.ok(!text.includes(secret), `/metrics does not contain "${secret}"`);
    }
    assert.match(text, /route="unmatched",status="404"/, 'unknown URLs share one series');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real `latchkey serve` processes, stopped with signals.

/** An SMTP server that takes each message, then waits before its 250, as a busy relay does. */
async function slowSmtpServer(ackDelayMs: number): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(...session.envelope.rcptTo.map((rcpt) => rcpt.address));
        setTimeout(() => callback(), ackDelayMs);
      });
    },
  });
  // A client killed mid-transaction makes smtp-server emit 'error': expected here.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Served {
  url: string;
  port: number;
  env: Record<string, string>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  child: ChildProcess;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

async function installation(extraEnv: Record<string, string>, users: string[]): Promise<Record<string, string>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-ops-'));
  dirs.push(dir);
  const env: Record<string, string> = {
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
    LATCHKEY_PORT: String(await freePort()),
    LATCHKEY_RATE_LIMIT: '0',
    LATCHKEY_RESET_LIMIT_PER_HOUR: '0',
    LATCHKEY_METRICS_TOKEN: METRICS_TOKEN,
    NODE_ENV: 'test',
    ...extraEnv,
  };
  await withServices(env, async (services) => {
    for (const email of users) await services.users.create({ email, name: 'Stop Test', password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
  });
  return env;
}

/** The installation's services, from this test process, as the command line would open them. */
async function withServices<T>(env: Record<string, string>, use: (services: Services) => Promise<T>): Promise<T> {
  const services = await createServices(loadConfig(env, ROOT), systemClock, createLogger('silent'));
  try {
    return await use(services);
  } finally {
    await services.close();
  }
}

/** `node bin/latchkey.js serve`, as an operator starts it (the build is made by `npm run build` first). */
async function serve(env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, ['bin/latchkey.js', 'serve'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close', not 'exit': the process has ended and its last log lines have been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const port = Number(env.LATCHKEY_PORT);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`latchkey serve exited with ${child.exitCode}: ${output}`);
    if (await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)) break;
    if (Date.now() > deadline) throw new Error(`latchkey serve did not become ready: ${output}`);
    await sleep(50);
  }
  return { url, port, env, output: () => output, exited, child };
}


/** A raw HTTP/1.1 connection, for requests that arrive in pieces. */
function rawConnection(port: number): Promise<{ socket: net.Socket; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const answer = new Promise<string>((done) => socket.once('close', () => done(text)));
      resolve({ socket, answer });
    });
    socket.once('error', reject);
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

async function mailStatus(env: Record<string, string>, to: string): Promise<string[]> {
  return withServices(env, async (services) =>
    (await services.db.selectFrom('mail_messages').select('status').where('to_address', '=', to).execute()).map((row) => row.status),
  );
}

/** Reset requests for this address answered but not yet acted on (a link and a mail come of each in a courier's pass). */
async function requestsWaiting(env: Record<string, string>, email: string): Promise<number> {
  return withServices(env, async (services) => (await services.db.selectFrom('reset_requests').select('id').where('email', '=', email).execute()).length);
}

describe('stopping a server with SIGTERM', () => {
  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'a form still arriving gets its normal answer, new connections are refused, /readyz says 503, the mail in hand is sent, and it exits 0',
    { timeout: 60_000 },
    async () => {
      const smtp = await slowSmtpServer(2_000);
      try {
        const first = 'first.sender@example.com';
        const second = 'slow.typist@example.com';
        const env = await installation({ LATCHKEY_SMTP_URL: smtp.url }, [first, second]);
        const server = await serve(env);

        // A mail the worker has claimed: the SMTP server has it, its 250 is still two seconds away.
        const client = new WebClient(server.url);
        await client.get('/reset-password');
        assert.equal((await client.post('/reset-password', { email: first })).status, 200);
        await waitFor('the first mail to reach the SMTP server', () => smtp.received.includes(first));

        // A reset request whose form body is half sent, and a probe whose headers are half sent.
        const form = new WebClient(server.url);
        await form.get('/reset-password');
        const body = new URLSearchParams({ _csrf: form.csrfToken(), email: second }).toString();
        const cookie = [...form.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
        const slowForm = await rawConnection(server.port);
        slowForm.socket.write(
          `POST /reset-password HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nCookie: ${cookie}\r\n\r\n${body.slice(0, 20)}`,
        );
        const probe = await rawConnection(server.port);
        probe.socket.write(`GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`);
        await sleep(100);

        server.child.kill('SIGTERM');
        await waitFor('the listener to close', () => server.output().includes('shutting down'));
        const refused = await (async () => {
          for (let i = 0; i < 50; i++) {
            if (await connectionRefused(server.port)) return true;
            await sleep(20);
          }
          return false;
        })();
        assert.ok(refused, 'new connections are refused once the server is stopping');

        probe.socket.write('\r\n');
        assert.match(await probe.answer, /^HTTP\/1\.1 503 /, 'a probe during the shutdown says: not ready');

        slowForm.socket.write(body.slice(20));
        const answer = await slowForm.answer;
        assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 200));
        assert.match(answer, /If an account exists for this address, password reset instructions have been sent to it/);

        assert.deepEqual(await server.exited, { code: 0, signal: null }, server.output());
        assert.deepEqual(await mailStatus(env, first), ['sent'], 'the mail in hand was sent and recorded');
        assert.equal(smtp.received.filter((to) => to === first).length, 1);
        // Asked for while the server stopped: the request waits, whole, for the next instance to act on it.
        assert.deepEqual(await mailStatus(env, second), []);
        assert.equal(await requestsWaiting(env, second), 1);
        assert.match(server.output(), /shutting down/);
        assert.ok(!server.output().includes(METRICS_TOKEN), 'the log holds no secret');
      } finally {
        await smtp.close();
      }
    },
  );

  it('a second signal stops at once, with exit code 1 and a line that says so', { timeout: 30_000 }, async () => {
    const smtp = await slowSmtpServer(10_000);
    try {
      const email = 'impatient@example.com';
      const env = await installation({ LATCHKEY_SMTP_URL: smtp.url }, [email]);
      const server = await serve(env);
      const client = new WebClient(server.url);
      await client.get('/reset-password');
      await client.post('/reset-password', { email });
      await waitFor('the mail to reach the SMTP server', () => smtp.received.includes(email));
      server.child.kill('SIGTERM');
      await waitFor('the shutdown to begin', () => server.output().includes('shutting down'));
      server.child.kill('SIGINT');
      const started = Date.now();
      assert.deepEqual(await server.exited, { code: 1, signal: null });
      assert.ok(Date.now() - started < 2_000, 'it did not wait for the mail');
      assert.match(server.output(), /second signal/);
    } finally {
      await smtp.close();
    }
  });

  it('a shutdown that outlasts LATCHKEY_SHUTDOWN_GRACE exits 1 with a line that says so', { timeout: 30_000 }, async () => {
    const smtp = await slowSmtpServer(10_000);
    try {
      const email = 'slow.relay@example.com';
      const env = await installation({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_SHUTDOWN_GRACE: '1' }, [email]);
      const server = await serve(env);
      const client = new WebClient(server.url);
      await client.get('/reset-password');
      await client.post('/reset-password', { email });
      await waitFor('the mail to reach the SMTP server', () => smtp.received.includes(email));
      const started = Date.now();
      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 1, signal: null });
      assert.ok(Date.now() - started < 5_000, `stopped after the grace period (${Date.now() - started} ms)`);
      assert.match(server.output(), /LATCHKEY_SHUTDOWN_GRACE/);
    } finally {
      await smtp.close();
    }
  });

  it('a web-only instance (LATCHKEY_MAIL_WORKER=off) says at start that other instances send mail, keeps reset requests for them and sends nothing', { timeout: 30_000 }, async () => {
    const smtp = await slowSmtpServer(0);
    try {
      const email = 'web.only@example.com';
      const env = await installation({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_MAIL_WORKER: 'off' }, [email]);
      const server = await serve(env);
      await waitFor('the start line', () => /mail is sent by other instances/.test(server.output()));
      const client = new WebClient(server.url);
      await client.get('/reset-password');
      assert.equal((await client.post('/reset-password', { email })).status, 200);
      await sleep(1_500);
      assert.deepEqual(smtp.received, []);
      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 0, signal: null });
      assert.deepEqual(await mailStatus(env, email), []);
      assert.equal(await requestsWaiting(env, email), 1, 'the request waits for an instance that sends mail');
    } finally {
      await smtp.close();
    }
  });
});
