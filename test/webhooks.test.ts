// Webhooks as a receiver sees them: a real HTTP server started here gets signed deliveries for password changes and
// resets, retries after its own 500s, nothing for unknown addresses or private addresses, each event once across
// instances, and at most the delivery in flight twice after a SIGKILL of `latchkey serve`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../src/config.ts';
import { ManualClock, systemClock } from '../src/infra/clock.ts';
import { openDatabase, type Db } from '../src/infra/db.ts';
import { UserError } from '../src/infra/errors.ts';
import { createLogger } from '../src/infra/logger.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { createServices, type Services } from '../src/services.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { WebClient, textOf } from './support/client.ts';
import { freshDatabaseUrl, onPostgres } from './support/database.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { sleep, waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OPEN = { LATCHKEY_WEBHOOK_ALLOW_PRIVATE: 'on', LATCHKEY_WEBHOOK_ALLOW_HTTP: 'on' };

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** The answers to give, in order; 200 once they run out. */
  answers: number[];
  /** Set to hold every answer this long (a slow receiver). */
  delayMs: number;
  close(): Promise<void>;
}

async function startReceiver(answers: number[] = []): Promise<Receiver> {
  const receiver: Receiver = { url: '', received: [], answers, delayMs: 0, close: async () => undefined };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      receiver.received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = receiver.answers.shift() ?? 200;
      setTimeout(() => response.writeHead(status).end(), receiver.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** What the standardwebhooks package makes of a request: the parsed body if the signature holds, else it throws. */
function verified(secret: string, request: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { type: string; timestamp: string; data: Record<string, unknown> };
}

async function adminClient(lk: TestApp): Promise<WebClient> {
  const user = await lk.createUser({ email: `admin.${Math.random().toString(36).slice(2)}@example.com`, name: 'Ada Admin', admin: true });
  const client = new WebClient(lk.url);
  await client.get('/login');
  await client.post('/login', { email: user.email, password: GOOD_PASSWORD });
  return client;
}

/** Adds a webhook through the console, as an administrator does; returns its id and the secret shown once. */
async function addWebhook(admin: WebClient, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  await admin.get('/admin/webhooks/new');
  const form = new URLSearchParams({ _csrf: admin.csrfToken(), url, description: 'Test receiver', enabled: 'yes' });
  for (const event of events) form.append('events', event);
  const page = await admin.request('POST', '/admin/webhooks', form);
  assert.equal(page.status, 200, textOf(page.html));
  const secret = /id="signing-secret"[^>]*value="(whsec_[A-Za-z0-9+/=]+)"/.exec(page.html)?.[1];
  const id = /\/admin\/webhooks\/(wh_[A-Za-z0-9_-]+)\/secret/.exec(page.url)?.[1];
  assert.ok(secret && id, 'the new webhook page shows its signing secret once');
  return { id, secret };
}

describe('webhooks', () => {
  let smtp: TestSmtpServer;
  let receiver: Receiver;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    receiver = await startReceiver();
    lk = await startTestApp({ smtpUrl: smtp.url, env: OPEN });
  });

  after(async () => {
    await lk.close();
    await receiver.close();
    await smtp.close();
  });

  it('a password change and a reset reach the receiver signed per Standard Webhooks, with the user and no secret in the body', async () => {
    const admin = await adminClient(lk);
    const { id, secret } = await addWebhook(admin, receiver.url, ['password.changed', 'reset.requested', 'reset.completed']);
    const again = await admin.get(`/admin/webhooks/${id}/secret`);
    assert.doesNotMatch(again.html, /whsec_/, 'a reload does not show the secret again');
    const stored = await lk.services.db.selectFrom('webhook_subscriptions').select('secret_sealed').where('id', '=', id).executeTakeFirstOrThrow();
    assert.ok(!stored.secret_sealed.includes(secret.slice(6)), 'the secret is stored sealed');

    const user = await lk.createUser({ email: 'hook.user@example.com', name: 'Hedda Hook' });
    const browser = new WebClient(lk.url);
    await browser.get('/login');
    await browser.post('/login', { email: 'hook.user@example.com', password: GOOD_PASSWORD });
    await browser.get('/account');
    const changed = await browser.post('/account/password', { current: GOOD_PASSWORD, password: 'Copper-Meadow-73', confirmation: 'Copper-Meadow-73' });
    assert.equal(changed.status, 200, textOf(changed.html));

    await browser.get('/reset-password');
    await browser.post('/reset-password', { email: 'hook.user@example.com' });
    const mail = await smtp.waitForMail((m) => m.to.includes('hook.user@example.com') && /Password reset/.test(m.subject));
    const reset = new WebClient(lk.url);
    await reset.get(new URL(resetLinkIn(mail)).pathname);
    const done = await reset.post('/reset-password/new', { password: 'Silver-Orchard-58', confirmation: 'Silver-Orchard-58' });
    assert.equal(done.status, 200, textOf(done.html));

    const types = () => receiver.received.map((request) => verified(secret, request).type);
    await waitFor('four deliveries', async () => {
      await lk.services.webhookWorker.drain();
      return receiver.received.length >= 4;
    });
    assert.deepEqual(types().sort(), ['password.changed', 'password.changed', 'reset.completed', 'reset.requested']);
    for (const request of receiver.received) {
      assert.match(request.headers['webhook-id'] as string, /^msg_/);
      assert.match(request.headers['webhook-signature'] as string, /^v1,[A-Za-z0-9+/=]+$/);
      const event = verified(secret, request);
      assert.deepEqual(event.data.user, { id: user.id, email: 'hook.user@example.com', name: 'Hedda Hook', role: 'user', status: 'active' });
      assert.ok(!Number.isNaN(Date.parse(event.timestamp)));
      assert.doesNotMatch(request.body, /\$argon2|reset-password\/|whsec_|password_hash|token/i, 'no hash, link, token or secret in the body');
    }
    const requested = receiver.received.map((request) => verified(secret, request)).find((event) => event.type === 'reset.requested')!;
    assert.equal(requested.data.instructionsSent, true);
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(receiver.received[0]!.body, receiver.received[0]!.headers as Record<string, string>), 'another secret does not verify');

    // The console shows each attempt: when, the answer, how long it took.
    const page = await admin.get(`/admin/webhooks/${id}`);
    assert.match(textOf(page.html), /reset\.completed/);
    assert.match(textOf(page.html), /HTTP 200 \(\d+ ms\)/);
    assert.match(textOf(page.html), /Delivered/);
  });

  it('a reset asked for an unknown address never produces a delivery', async () => {
    const admin = await adminClient(lk);
    const { id } = await addWebhook(admin, receiver.url, ['reset.requested']);
    const stranger = new WebClient(lk.url);
    await stranger.get('/reset-password');
    await stranger.post('/reset-password', { email: 'nobody.here@example.com' });
    await waitFor('the request to be acted on', async () =>
      Boolean(await lk.services.db.selectFrom('audit_events').select('id').where('type', '=', 'reset.requested').where('email', '=', 'nobody.here@example.com').executeTakeFirst()),
    );
    await lk.services.webhookWorker.drain();
    const deliveries = await lk.services.db.selectFrom('webhook_deliveries').select('id').where('subscription_id', '=', id).execute();
    assert.equal(deliveries.length, 0);
    assert.ok(receiver.received.every((request) => !request.body.includes('nobody.here')));
  });

  it('refuses a literal private address, and http://, unless the settings allow them', async () => {
    const closed = await startTestApp({ startWorker: false });
    try {
      const admin = await adminClient(closed);
      await admin.get('/admin/webhooks/new');
      for (const [url, message] of [
        ['https://127.0.0.1:8443/hooks', /127\.0\.0\.1 is a loopback address/],
        ['https://[::1]/hooks', /::1 is a loopback address/],
        ['https://169.254.169.254/latest', /link-local/],
        ['https://10.1.2.3/hooks', /private address/],
        ['https://100.64.0.1/hooks', /carrier-grade NAT/],
        ['https://[fd00:ec2::254]/hooks', /unique-local/],
        ['https://[::ffff:127.0.0.1]/hooks', /loopback/],
        ['http://hooks.example.com/', /must start with https:\/\//],
      ] as const) {
        const form = new URLSearchParams({ _csrf: admin.csrfToken(), url, enabled: 'yes', events: 'user.created' });
        const page = await admin.request('POST', '/admin/webhooks', form);
        assert.equal(page.status, 400, url);
        assert.match(textOf(page.html), message);
      }
      await assert.rejects(closed.services.webhooks.create({ url: 'https://192.168.1.1/', description: '', events: ['user.created'], enabled: true }, COMMAND_LINE), UserError);
      assert.equal((await closed.services.webhooks.list()).length, 0);
    } finally {
      await closed.close();
    }
  });

  it('a name that resolves to a private address is refused when delivering, and the receiver gets nothing', async () => {
    const guarded = await startTestApp({ startWorker: false, env: { LATCHKEY_WEBHOOK_ALLOW_HTTP: 'on' } });
    const local = await startReceiver();
    try {
      const port = new URL(local.url).port;
      const { subscription } = await guarded.services.webhooks.create({ url: `http://localhost:${port}/hooks`, description: '', events: ['user.created'], enabled: true }, COMMAND_LINE);
      await guarded.createUser({ email: 'rebind@example.com', name: 'Rene Bind' });
      await guarded.services.webhookWorker.drain();
      const [delivery] = await guarded.services.webhooks.deliveries(subscription.id);
      assert.equal(delivery?.status, 'retrying');
      assert.match(delivery!.attemptRows[0]!.error ?? '', /^Refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
      assert.equal(local.received.length, 0);
    } finally {
      await local.close();
      await guarded.close();
    }
  });
});

describe('webhook retries', () => {
  it('the receiver answers 500 twice, then 200: the third attempt delivers, with the same message id, each attempt on the page', async () => {
    // Starts at the real time, so the receiver's check of the timestamp (five minutes either way) holds.
    const clock = new ManualClock(Date.now());
    const receiver = await startReceiver([500, 500]);
    const lk = await startTestApp({ clock, env: OPEN, startWorker: false });
    try {
      const admin = await adminClient(lk);
      const { id, secret } = await addWebhook(admin, receiver.url, ['user.created']);
      await lk.createUser({ email: 'retry.me@example.com', name: 'Rita Retry' });
      await lk.services.webhookWorker.drain();
      assert.equal(receiver.received.length, 1);
      let [delivery] = await lk.services.webhooks.deliveries(id);
      assert.equal(delivery!.status, 'retrying');
      await lk.services.webhookWorker.drain();
      assert.equal(receiver.received.length, 1, 'not again before its time');
      const waits: number[] = [];
      for (const expected of [2, 3]) {
        waits.push(delivery!.next_attempt_at - clock.now());
        clock.advance(delivery!.next_attempt_at - clock.now());
        await lk.services.webhookWorker.drain();
        assert.equal(receiver.received.length, expected);
        [delivery] = await lk.services.webhooks.deliveries(id);
      }
      assert.equal(delivery!.status, 'delivered');
      assert.ok(waits[0]! >= 5_000 && waits[0]! <= 10_000 && waits[1]! >= 10_000 && waits[1]! <= 20_000, `backoff doubles, with jitter: ${waits.join(', ')} ms`);
      const ids = new Set(receiver.received.map((request) => request.headers['webhook-id']));
      assert.equal(ids.size, 1, 'every attempt carries the same webhook-id');
      for (const request of receiver.received) assert.equal(verified(secret, request).type, 'user.created');
      const page = textOf((await admin.get(`/admin/webhooks/${id}`)).html);
      assert.equal(page.match(/HTTP 500 — Answered 500\./g)?.length, 2);
      assert.match(page, /HTTP 200/);
    } finally {
      await lk.close();
      await receiver.close();
    }
  });

  it('a receiver that keeps failing is given up on after LATCHKEY_WEBHOOK_RETRY_HORIZON and marked failed', async () => {
    const clock = new ManualClock(Date.now());
    const receiver = await startReceiver(Array(50).fill(503));
    const lk = await startTestApp({ clock, env: { ...OPEN, LATCHKEY_WEBHOOK_RETRY_HORIZON: '60' }, startWorker: false });
    try {
      const { subscription } = await lk.services.webhooks.create({ url: receiver.url, description: '', events: ['user.created'], enabled: true }, COMMAND_LINE);
      await lk.createUser({ email: 'never.there@example.com', name: 'Nev There' });
      await lk.services.webhookWorker.drain();
      for (let round = 0; round < 10; round++) {
        const [delivery] = await lk.services.webhooks.deliveries(subscription.id);
        if (delivery!.status !== 'retrying') break;
        clock.advance(delivery!.next_attempt_at - clock.now());
        await lk.services.webhookWorker.drain();
      }
      const [delivery] = await lk.services.webhooks.deliveries(subscription.id);
      assert.equal(delivery!.status, 'failed');
      assert.equal(delivery!.last_error, 'Answered 503.');
      assert.ok(receiver.received.length >= 2 && receiver.received.length <= 4, `${receiver.received.length} attempts within a minute`);
    } finally {
      await lk.close();
      await receiver.close();
    }
  });
});

describe('webhooks across instances', { skip: !onPostgres && 'two instances share one database on PostgreSQL only' }, () => {
  it('two instances on one PostgreSQL database deliver each event once', { timeout: 60_000 }, async () => {
    const receiver = await startReceiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-webhooks-'));
    const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir, NODE_ENV: 'test', ...OPEN };
    const instances: Services[] = [];
    try {
      for (let i = 0; i < 2; i++) instances.push(await createServices(loadConfig(env, dir), systemClock, createLogger('silent')));
      const [a, b] = instances as [Services, Services];
      await a.webhooks.create({ url: receiver.url, description: '', events: ['user.created', 'user.updated'], enabled: true }, COMMAND_LINE);
      receiver.delayMs = 20;
      a.webhookWorker.start();
      b.webhookWorker.start();
      const USERS = 60;
      await Promise.all(
        Array.from({ length: USERS }, (_, i) => (i % 2 === 0 ? a : b).users.create({ email: `twin${i}@example.com`, name: `Twin ${i}`, password: null, role: 'user' }, COMMAND_LINE)),
      );
      await waitFor('every event delivered', async () => (await a.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'delivered').execute()).length === USERS, 30_000);
      await sleep(1_500); // a pass or two more on each instance: nothing else may go out
      const emails = receiver.received.map((request) => (JSON.parse(request.body) as { data: { user: { email: string } } }).data.user.email);
      assert.equal(new Set(emails).size, USERS);
      assert.equal(receiver.received.length, USERS, 'no event delivered twice');
    } finally {
      for (const services of instances) await services.close();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// A real `latchkey serve`, killed mid-delivery.

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function serve(env: Record<string, string>, url: string): Promise<{ child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(
    'latchkey serve to answer',
    async () => {
      if (child.exitCode !== null) throw new Error(`latchkey serve exited: ${output}`);
      return fetch(`${url}/healthz`).then((response) => response.ok, () => false);
    },
    15_000,
  );
  return { child, exited, output: () => output };
}

describe('webhooks when the Latchkey process dies', () => {
  it('killed with SIGKILL mid-delivery: after restart every event arrives, duplicates at most the deliveries in flight', { timeout: 60_000 }, async () => {
    const receiver = await startReceiver();
    receiver.delayMs = 150;
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-webhooks-crash-'));
    const port = await freePort();
    const env: Record<string, string> = {
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
      LATCHKEY_PORT: String(port),
      LATCHKEY_WEBHOOK_TIMEOUT: '1',
      LATCHKEY_LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
      ...OPEN,
    };
    const USERS = 40;
    const config = loadConfig(env, ROOT);
    const setup = await createServices(config, systemClock, createLogger('silent'));
    const { subscription } = await setup.webhooks.create({ url: receiver.url, description: '', events: ['user.created'], enabled: true }, COMMAND_LINE);
    for (let i = 0; i < USERS; i++) await setup.users.create({ email: `crash${i}@example.com`, name: `Crash ${i}`, password: null, role: 'user' }, COMMAND_LINE);
    await setup.close();
    const db: Db = openDatabase(config.database);
    const rows = () => db.selectFrom('webhook_deliveries').select(['event_id', 'status']).where('subscription_id', '=', subscription.id).execute();
    const url = `http://127.0.0.1:${port}`;
    try {
      let server = await serve(env, url);
      await waitFor('the first deliveries', () => receiver.received.length >= 12, 15_000);
      server.child.kill('SIGKILL');
      assert.equal((await server.exited).signal, 'SIGKILL');
      await sleep(300); // answers the dead process never read
      const atKill = await rows();
      const inFlight = atKill.filter((row) => row.status === 'sending').length;
      const deliveredAtKill = atKill.filter((row) => row.status === 'delivered').length;
      assert.ok(deliveredAtKill < USERS, `the kill came mid-way (${deliveredAtKill} of ${USERS} delivered)`);
      assert.ok(inFlight > 0, 'deliveries were in hand when the process died');
      assert.ok(inFlight <= 10, `${inFlight} in hand: at most one claim of 10 at a time`);

      server = await serve(env, url);
      await waitFor('every delivery after the restart', async () => (await rows()).filter((row) => row.status === 'delivered').length === USERS, 30_000);
      const ids = receiver.received.map((request) => request.headers['webhook-id'] as string);
      const duplicates = ids.length - new Set(ids).size;
      process.stdout.write(`# webhooks SIGKILL: ${deliveredAtKill} delivered and ${inFlight} in flight at the kill; ${duplicates} duplicate(s) after restart\n`);
      assert.equal(new Set(ids).size, USERS, 'every event arrived');
      assert.ok(duplicates <= inFlight, `${duplicates} duplicate(s), at most the ${inFlight} in flight at the kill`);

      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 0, signal: null }, server.output());
    } finally {
      await db.destroy();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
