// Accounts and sessions: the first administrator, rehashing on login, session storage and lifetime, the per-account reset limit.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash } from '@node-rs/argon2';
import { ManualClock } from '../src/infra/clock.ts';
import { hashToken } from '../src/infra/crypto.ts';
import { ARGON2_PARAMS } from '../src/modules/passwords/hashing.ts';
import { ensureFirstAdministrator } from '../src/services.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { startSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';

const apps: TestApp[] = [];
after(async () => {
  for (const app of apps) await app.close();
});

async function app(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const started = await startTestApp(options);
  apps.push(started);
  return started;
}

async function logIn(lk: TestApp, email: string, password: string): Promise<WebClient> {
  const client = new WebClient(lk.url);
  await client.get('/login');
  await client.post('/login', { email, password });
  return client;
}

describe('accounts and sessions', () => {
  it('the first administrator comes from LATCHKEY_ADMIN_EMAIL and LATCHKEY_ADMIN_PASSWORD, only while no user exists', async () => {
    const lk = await app({ env: { LATCHKEY_ADMIN_EMAIL: 'First.Admin@Example.com', LATCHKEY_ADMIN_PASSWORD: 'Granite-Heron-3310' } });
    await ensureFirstAdministrator(lk.services);
    await ensureFirstAdministrator(lk.services);
    const users = await lk.services.db.selectFrom('users').selectAll().execute();
    assert.equal(users.length, 1, 'created once');
    assert.equal(users[0]!.email, 'first.admin@example.com', 'stored normalized');
    assert.equal(users[0]!.role, 'admin');
    const client = await logIn(lk, 'first.admin@example.com', 'Granite-Heron-3310');
    assert.equal((await client.get('/admin/users')).status, 200);
  });

  it('a hash made with older argon2id parameters is replaced by a current one at the next login', async () => {
    const lk = await app();
    const user = await lk.createUser({ email: 'old.hash@example.com', name: 'Olga Hash' });
    const weaker = await hash(GOOD_PASSWORD, { ...ARGON2_PARAMS, memoryCost: 4096, timeCost: 1 });
    await lk.services.db.updateTable('users').set({ password_hash: weaker }).where('id', '=', user.id).execute();
    const client = await logIn(lk, 'old.hash@example.com', GOOD_PASSWORD);
    assert.ok(client.last!.url.endsWith('/account'));
    const row = await lk.services.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    assert.match(row.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await logIn(lk, 'old.hash@example.com', GOOD_PASSWORD);
  });

  it('only a hash of the session id is stored, and the cookie alone opens the session', async () => {
    const lk = await app();
    await lk.createUser({ email: 'cookie@example.com', name: 'Cora Kie' });
    const client = await logIn(lk, 'cookie@example.com', GOOD_PASSWORD);
    const token = client.cookies.get('latchkey_session')!;
    assert.ok(token.length >= 43, 'at least 256 bits');
    const rows = await lk.services.db.selectFrom('sessions').select('id_hash').execute();
    assert.ok(rows.every((row) => row.id_hash !== token));
    assert.ok(rows.some((row) => row.id_hash === hashToken(token)));
    const thief = new WebClient(lk.url);
    thief.cookies.set('latchkey_session', rows[0]!.id_hash);
    assert.ok((await thief.get('/account')).url.includes('/login'), 'the stored hash is no key');
  });

  it('a session in constant use still ends at LATCHKEY_SESSION_MAX_AGE', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const lk = await app({ clock, env: { LATCHKEY_SESSION_IDLE_TIMEOUT: '600', LATCHKEY_SESSION_MAX_AGE: '3600' } });
    await lk.createUser({ email: 'busy@example.com', name: 'Bea Busy' });
    const client = await logIn(lk, 'busy@example.com', GOOD_PASSWORD);
    for (let minutes = 5; minutes < 60; minutes += 5) {
      clock.advance(5 * 60_000);
      assert.ok((await client.get('/account')).url.endsWith('/account'), `still in after ${minutes} minutes`);
    }
    clock.advance(6 * 60_000);
    assert.ok((await client.get('/account')).url.includes('/login'), 'out after the absolute limit');
  });

  it('"Log out" ends the session on the server, not just in the browser', async () => {
    const lk = await app();
    await lk.createUser({ email: 'leaver@example.com', name: 'Lee Ver' });
    const client = await logIn(lk, 'leaver@example.com', GOOD_PASSWORD);
    const token = client.cookies.get('latchkey_session')!;
    await client.get('/account');
    await client.post('/logout', {});
    const replay = new WebClient(lk.url);
    replay.cookies.set('latchkey_session', token);
    assert.ok((await replay.get('/account')).url.includes('/login'));
  });

  it('past LATCHKEY_RESET_LIMIT_PER_HOUR, a reset request gets the same page but no mail', async () => {
    const smtp = await startSmtpServer();
    // Its own app, closed before the SMTP server, whose close waits for the app's pooled connections.
    const lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_RESET_LIMIT_PER_HOUR: '2' } });
    try {
      await lk.createUser({ email: 'eager@example.com', name: 'Ed Eager' });
      const pages: string[] = [];
      for (let i = 0; i < 3; i++) {
        const client = new WebClient(lk.url);
        await client.get('/reset-password');
        pages.push(textOf((await client.post('/reset-password', { email: 'eager@example.com' })).html));
      }
      assert.equal(new Set(pages).size, 1, 'the same answer each time');
      await lk.services.worker.drain();
      // Two requests within the allowance, each answered by a link; the third got nothing. Requests acted on
      // in the same pass share the newest link (only the newest works anyway), so one or two mails were queued;
      // a mail whose link was replaced before the courier got to it is cancelled, not sent.
      const answered = await lk.services.db.selectFrom('audit_events').select('detail').where('type', '=', 'reset.requested').execute();
      assert.equal(answered.filter((row) => row.detail?.includes('"link"')).length, 2, 'two requests were answered with a link');
      const queued = await lk.services.db.selectFrom('mail_messages').select(['status']).where('to_address', '=', 'eager@example.com').execute();
      assert.ok(queued.length >= 1 && queued.length <= 2, `one or two mails queued (${queued.length})`);
      const received = smtp.mails.filter((mail) => mail.to.includes('eager@example.com')).length;
      assert.equal(received, queued.filter((row) => row.status === 'sent').length);
      assert.ok(received >= 1, 'the newest link is mailed');
      const throttled = await lk.services.db.selectFrom('audit_events').select('type').where('type', '=', 'reset.throttled').execute();
      assert.equal(throttled.length, 1, 'the audit log says why no mail went');
    } finally {
      await lk.close();
      await smtp.close();
    }
  });
});

describe('abuse of the account forms', () => {
  async function failLogins(lk: TestApp, email: string, ip: string, times: number): Promise<number> {
    const client = new WebClient(lk.url);
    await client.get('/login');
    let status = 0;
    for (let i = 0; i < times; i++) {
      const form = new URLSearchParams({ _csrf: client.csrfToken(), email, password: 'Wrong-Guess-1234' });
      status = (await client.request('POST', '/login', form, { 'x-forwarded-for': ip })).status;
    }
    return status;
  }

  it('failed logins from one address do not lock the owner out from another, and refused attempts do not prolong the pause', async () => {
    const lk = await app({ env: { LATCHKEY_TRUST_PROXY: 'true' } });
    await lk.createUser({ email: 'target@example.com', name: 'Tara Get' });
    assert.equal(await failLogins(lk, 'target@example.com', '203.0.113.9', 10), 401);
    assert.equal(await failLogins(lk, 'target@example.com', '203.0.113.9', 3), 429, 'the guessing address is paused');
    const owner = new WebClient(lk.url);
    await owner.get('/login');
    const page = await owner.request('POST', '/login', new URLSearchParams({ _csrf: owner.csrfToken(), email: 'target@example.com', password: GOOD_PASSWORD }), { 'x-forwarded-for': '198.51.100.7' });
    assert.ok(page.url.endsWith('/account'), 'the owner, elsewhere, logs in');
    const failed = await lk.services.db.selectFrom('audit_events').select('type').where('email', '=', 'target@example.com').execute();
    assert.equal(failed.filter((row) => row.type === 'login.failed').length, 10, 'refused attempts are not counted as failures');
    assert.equal(failed.filter((row) => row.type === 'login.throttled').length, 3);
  });

  it('five wrong current passwords on the account page end the session', async () => {
    const lk = await app();
    await lk.createUser({ email: 'stolen@example.com', name: 'Stan Olen' });
    const client = await logIn(lk, 'stolen@example.com', GOOD_PASSWORD);
    let page = await client.get('/account');
    for (let i = 1; i <= 5; i++) {
      page = await client.post('/account/password', { current: `Guess-Number-${i}x`, password: 'Fresh-Walnut-5521', confirmation: 'Fresh-Walnut-5521' });
      if (i < 5) assert.match(textOf(page.html), /The current password is not correct/);
    }
    assert.ok(page.url.includes('/login'), `sent to ${page.url}`);
    assert.match(textOf(page.html), /too many wrong current passwords/);
    assert.ok((await client.get('/account')).url.includes('/login'), 'the session is over');
  });

  it('notice keys that name object properties are ignored, not a 500', async () => {
    const lk = await app();
    await lk.createUser({ email: 'root@example.com', name: 'Root Admin', admin: true });
    const user = await lk.createUser({ email: 'plain@example.com', name: 'Plain User' });
    const client = await logIn(lk, 'root@example.com', GOOD_PASSWORD);
    for (const key of ['__proto__', 'constructor', 'toString', '__defineGetter__']) {
      for (const path of [`/login?notice=${key}`, `/account?notice=${key}`, `/admin/users/${user.id}?notice=${key}`, `/admin/mail-queue?status=${key}`]) {
        const page = await client.get(path);
        assert.equal(page.status, 200, path);
        assert.doesNotMatch(page.html, /native code|\[object Object\]/, path);
      }
    }
  });
});
