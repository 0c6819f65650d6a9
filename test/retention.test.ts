// Retention: a database aged through an injected clock keeps what is live and recent and loses what is past its time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config.ts';
import { ManualClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { ANONYMOUS_TYPES, COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { createServices } from '../src/services.ts';
import { databaseAdapter } from '../src/modules/oidc/adapter.ts';
import type { OidcTables } from '../src/modules/oidc/oidc.repo.ts';
import { startTestApp, GOOD_PASSWORD, type TestApp } from './support/app.ts';
import { WebClient } from './support/client.ts';
import { onPostgres } from './support/database.ts';

const DAY = 86_400_000;
const STRANGER = { ip: '203.0.113.9', userAgent: 'test' };

async function resetRequest(lk: TestApp, email: string): Promise<void> {
  const client = new WebClient(lk.url);
  await client.get('/reset-password');
  assert.equal((await client.post('/reset-password', { email })).status, 200);
}

async function logIn(lk: TestApp, email: string, password: string): Promise<void> {
  const client = new WebClient(lk.url);
  await client.get('/login');
  await client.post('/login', { email, password });
}

describe('retention', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false });
  });
  after(async () => {
    await lk.close();
  });

  const db = () => lk.services.db;
  const anonymousEvents = async () =>
    (await db().selectFrom('audit_events').select(['type', 'at']).where('user_id', 'is', null).where('type', 'in', ANONYMOUS_TYPES).execute()).length;
  const cleanedEvents = () => db().selectFrom('audit_events').select(['at', 'detail', 'user_agent']).where('type', '=', 'retention.cleaned').orderBy('id').execute();

  it('an aged database keeps live sessions, open links, queued mail and recent events, and loses the rest on time', async () => {
    // Day 0: strangers ask for resets of unknown addresses, fail to log in, open a link that is not one.
    const alice = await lk.createUser({ email: 'alice@example.com', name: 'Alice Old' });
    const bob = await lk.createUser({ email: 'bob@example.com', name: 'Bob Later' });
    const carol = await lk.createUser({ email: 'carol@example.com', name: 'Carol Queued' });
    for (const email of ['nobody1@example.com', 'nobody2@example.com', 'nobody3@example.com']) await resetRequest(lk, email);
    await logIn(lk, 'stranger@example.com', 'Wrong-Password-1');
    await new WebClient(lk.url).get(`/reset-password/${'x'.repeat(43)}`);
    // Alice asks for a reset (link and mail, delivered to the development mailbox) and logs in.
    await resetRequest(lk, 'alice@example.com');
    await lk.services.worker.drain();
    await logIn(lk, 'alice@example.com', GOOD_PASSWORD);
    // Carol's mail waits in the queue (no worker runs from here on), however old it gets.
    await lk.services.recovery.sendInstructions(carol.id, COMMAND_LINE, 'cli');
    const anonymousAtStart = await anonymousEvents();
    assert.ok(anonymousAtStart >= 5, `${anonymousAtStart} anonymous events`);
    const accountEventsAtStart = await db().selectFrom('audit_events').select('id').where('user_id', 'is not', null).execute();
    assert.equal((await db().selectFrom('sessions').select('user_id').execute()).length, 1);
    assert.equal((await db().selectFrom('mail_messages').select('status').where('status', '=', 'sent').execute()).length, 1);

    // Day 40: Bob logs in and gets an open link with a queued mail; a stranger fails a login again.
    clock.advance(40 * DAY);
    await logIn(lk, 'bob@example.com', GOOD_PASSWORD);
    await lk.services.recovery.sendInstructions(bob.id, COMMAND_LINE, 'cli');
    await logIn(lk, 'stranger@example.com', 'Wrong-Password-2');

    const first = await lk.services.retention.cleanUp();
    assert.ok(first);
    assert.equal(first.sessions, 1, "Alice's session, expired for 40 days");
    assert.equal(first.mailMessages, 1, "Alice's sent reset mail, 40 days old");
    assert.equal(first.mailAttempts, 1);
    assert.equal(first.resetLinks, 2, "Alice's and Carol's links, expired for 39 days");
    assert.equal(first.anonymousEvents, anonymousAtStart, 'the strangers’ events of day 0');
    assert.equal(first.auditEvents, 0, 'no event is a year old yet');

    const sessions = await db().selectFrom('sessions').select('user_id').execute();
    assert.deepEqual(sessions.map((s) => s.user_id), [bob.id], 'the live session stays');
    const links = await db().selectFrom('reset_links').select(['user_id', 'used_at', 'revoked_at']).execute();
    assert.deepEqual(links, [{ user_id: bob.id, used_at: null, revoked_at: null }], 'the open link stays');
    const mails = await db().selectFrom('mail_messages').select(['user_id', 'status']).orderBy('created_at').execute();
    assert.deepEqual(mails, [{ user_id: carol.id, status: 'queued' }, { user_id: bob.id, status: 'queued' }], 'queued mail stays, even past the mail retention');
    assert.equal(await anonymousEvents(), 1, "today's failed login of a stranger stays");
    const accountEvents = await db().selectFrom('audit_events').select('id').where('user_id', 'is not', null).where('at', '<', t0 + DAY).execute();
    assert.equal(accountEvents.length, accountEventsAtStart.length, "the accounts' events of day 0 stay for a year");
    assert.ok((await db().selectFrom('audit_events').select('id').where('user_id', '=', alice.id).execute()).length > 0, "Alice's history stays");

    // It audits itself, with the counts, once per cleanup that removed something.
    let cleaned = await cleanedEvents();
    assert.equal(cleaned.length, 1);
    assert.equal(cleaned[0]!.user_agent, 'latchkey retention');
    assert.deepEqual(JSON.parse(cleaned[0]!.detail!), { ...first });
    const again = await lk.services.retention.cleanUp();
    assert.deepEqual({ ...again, batches: 0 }, { sessions: 0, resetLinks: 0, mailMessages: 0, mailAttempts: 0, auditEvents: 0, anonymousEvents: 0, oidcArtifacts: 0, apiAnswers: 0, webhookDeliveries: 0, batches: 0 });
    assert.equal((await cleanedEvents()).length, 1, 'a cleanup that removed nothing records nothing');

    // Day 400: a year has passed since day 0.
    clock.advance(360 * DAY);
    const yearLater = await lk.services.retention.cleanUp();
    assert.ok(yearLater);
    assert.equal(yearLater.sessions, 1, "Bob's session");
    assert.equal(yearLater.resetLinks, 1, "Bob's link");
    assert.equal(yearLater.mailMessages, 0, 'queued mail is never removed');
    assert.equal(yearLater.anonymousEvents, 1);
    assert.ok(yearLater.auditEvents >= accountEventsAtStart.length, `${yearLater.auditEvents} events of day 0`);
    const left = await db().selectFrom('audit_events').select(['at', 'type']).execute();
    assert.ok(left.every((event) => event.at >= t0 + 40 * DAY), 'every event older than a year is gone');
    assert.ok(left.some((event) => event.type === 'login.succeeded'), "Bob's login of day 40 stays");
    cleaned = await cleanedEvents();
    assert.equal(cleaned.length, 2, 'the record of the first cleanup stays; the second is added');
    assert.equal((await db().selectFrom('mail_messages').select('id').execute()).length, 2);
  });

  it('a cleanup works through more rows than one batch, one short transaction per batch', async () => {
    const dave = await lk.createUser({ email: 'dave@example.com', name: 'Dave Many' });
    for (let i = 0; i < 1200; i++) await lk.services.sessions.start(db(), dave.id, STRANGER);
    for (let i = 0; i < 1200; i++) await lk.services.recovery.requestReset(`flood${i}@example.com`, STRANGER);
    await lk.services.worker.drain();
    assert.equal((await db().selectFrom('reset_requests').select('id').execute()).length, 0, 'the worker acted on every request');
    clock.advance(31 * DAY);
    const removed = await lk.services.retention.cleanUp();
    assert.ok(removed);
    assert.equal(removed.sessions, 1200);
    assert.ok(removed.anonymousEvents >= 1200, `${removed.anonymousEvents} anonymous events`);
    // 500 rows a batch: three for the sessions, three for the events, one for each other kind.
    assert.ok(removed.batches >= 6, `${removed.batches} batches`);
    assert.equal(await anonymousEvents(), 0);
    assert.equal((await db().selectFrom('sessions').select('id_hash').execute()).length, 0);
  });

  it("the provider's expired codes, tokens, sessions and grants go; live ones stay until they expire", async () => {
    // Stored the way the provider stores them, through the adapter, with lifetimes counted on the injected clock.
    const Adapter = databaseAdapter(db(), clock, { clientMetadata: async () => undefined });
    const store = (model: string, id: string, seconds: number, payload: Record<string, unknown> = {}) =>
      new Adapter(model).upsert(id, { accountId: 'user-1', clientId: 'app_retention', ...payload }, seconds);
    await store('Grant', 'grant-1', 30 * 86_400);
    await store('RefreshToken', 'refresh-1', 30 * 86_400, { grantId: 'grant-1' });
    await store('AccessToken', 'access-1', 600, { grantId: 'grant-1' });
    await store('AuthorizationCode', 'code-1', 60, { grantId: 'grant-1' });
    await store('Session', 'session-1', 86_400, { uid: 'uid-1' });
    for (let i = 0; i < 620; i++) await store('AccessToken', `flood-${i}`, 600, { grantId: 'grant-1' });
    const models = async () => (await db().withTables<OidcTables>().selectFrom('oidc_models').select(['model', 'id']).orderBy('model').orderBy('id').execute()).map((row) => `${row.model}:${row.id}`);
    assert.equal((await models()).length, 625);

    clock.advance(2 * DAY);
    const removed = await lk.services.retention.cleanUp();
    assert.ok(removed);
    assert.equal(removed.oidcArtifacts, 623, 'the code, the access tokens and the session, expired');
    assert.deepEqual(await models(), ['Grant:grant-1', 'RefreshToken:refresh-1'], 'the grant and its refresh token live on');
    assert.ok(await new Adapter('RefreshToken').find('refresh-1'), 'the refresh token still works');
    const cleaned = await cleanedEvents();
    assert.equal(JSON.parse(cleaned.at(-1)!.detail!).oidcArtifacts, 623, 'audited with the count');

    clock.advance(29 * DAY);
    assert.equal((await lk.services.retention.cleanUp())?.oidcArtifacts, 2);
    assert.deepEqual(await models(), []);
  });

  it("answers kept for the API's Idempotency-Key retries go after a day; a newer one stays", async () => {
    const { key } = await lk.services.apiKeys.create({ name: 'Retention', scopes: ['resets:send'], expiresAt: null }, COMMAND_LINE);
    for (let i = 0; i < 3; i++) {
      assert.equal((await lk.services.apiKeys.reserve(key.id, `old-${i}`, 'hash')).kind, 'go');
      await lk.services.apiKeys.finish(key.id, `old-${i}`, 202, '{}');
    }
    clock.advance(DAY / 2);
    await lk.services.apiKeys.reserve(key.id, 'newer', 'hash');
    clock.advance(DAY / 2 + 1000);
    const removed = await lk.services.retention.cleanUp();
    assert.equal(removed?.apiAnswers, 3);
    const left = await db().selectFrom('api_idempotency').select('idempotency_key').execute();
    assert.deepEqual(left.map((row) => row.idempotency_key), ['newer']);
  });

  it('finished webhook deliveries go with their attempts after the mail retention; waiting ones stay', async () => {
    const at = clock.now();
    await db().insertInto('webhook_subscriptions').values({ id: 'hook-1', url: 'https://hooks.example.com/in', description: '', events: '[]', enabled: 1, secret_sealed: 'x', after_event_id: 0, created_at: at, updated_at: at, secret_rotated_at: null }).execute();
    const delivery = (id: string, status: 'delivered' | 'failed' | 'retrying', event: number) => ({
      id, subscription_id: 'hook-1', event_id: event, event_type: 'user.created', payload: '{}', status, attempts: 1, next_attempt_at: at, lease_until: null, claim_id: null, created_at: at, delivered_at: null, last_error: null,
    });
    await db().insertInto('webhook_deliveries').values([delivery('d-sent', 'delivered', 1), delivery('d-failed', 'failed', 2), delivery('d-waiting', 'retrying', 3)]).execute();
    await db().insertInto('webhook_attempts').values([{ id: 'a-1', delivery_id: 'd-sent', at, status_code: 200, error: null, duration_ms: 5 }, { id: 'a-2', delivery_id: 'd-failed', at, status_code: 500, error: null, duration_ms: 5 }]).execute();
    clock.advance(31 * DAY);
    const removed = await lk.services.retention.cleanUp();
    assert.equal(removed?.webhookDeliveries, 2);
    assert.deepEqual((await db().selectFrom('webhook_deliveries').select('id').execute()).map((row) => row.id), ['d-waiting']);
    assert.equal((await db().selectFrom('webhook_attempts').select('id').execute()).length, 0);
  });

  it('instances cleaning at the same time remove each record once and record it once', { skip: !onPostgres && 'several instances need PostgreSQL' }, async () => {
    const other = await createServices(lk.services.config, clock, createLogger('silent'));
    try {
      const erin = await lk.createUser({ email: 'erin@example.com', name: 'Erin Twice' });
      for (let i = 0; i < 2000; i++) await lk.services.sessions.start(db(), erin.id, STRANGER);
      clock.advance(DAY);
      const before = (await cleanedEvents()).length;
      const results = await Promise.all([lk.services.retention.cleanUp(), other.retention.cleanUp()]);
      const removedSessions = results.reduce((sum, result) => sum + (result?.sessions ?? 0), 0);
      assert.equal(removedSessions, 2000);
      assert.equal((await cleanedEvents()).length, before + 1, `one cleanup ran: ${JSON.stringify(results)}`);
    } finally {
      await other.close();
    }
  });
});

describe('retention settings', () => {
  it('default to a year of events, 30 days for strangers’ events, mail and links, hourly', () => {
    assert.deepEqual(loadConfig({}, '/tmp').retention, { auditDays: 365, anonymousDays: 30, mailDays: 30, linksDays: 30, intervalSeconds: 3600 });
    assert.deepEqual(loadConfig({ LATCHKEY_RETENTION_AUDIT_DAYS: '0', LATCHKEY_RETENTION_INTERVAL: '0' }, '/tmp').retention.auditDays, 0);
  });

  it('refuse a period too short for the Security view, naming the variable', () => {
    assert.throws(() => loadConfig({ LATCHKEY_RETENTION_ANONYMOUS_DAYS: '3' }, '/tmp'), (error: Error) => error instanceof ConfigError && /LATCHKEY_RETENTION_ANONYMOUS_DAYS/.test(error.message));
    assert.throws(() => loadConfig({ LATCHKEY_RETENTION_AUDIT_DAYS: 'a year' }, '/tmp'), /LATCHKEY_RETENTION_AUDIT_DAYS/);
    assert.throws(() => loadConfig({ LATCHKEY_RETENTION_INTERVAL: '5' }, '/tmp'), /LATCHKEY_RETENTION_INTERVAL/);
  });
});
