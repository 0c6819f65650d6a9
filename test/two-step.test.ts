// Two-step verification over HTTP with an injected clock: setting up an app from /account, the second step at login
// (window, reuse, throttled guessing), recovery codes, a reset by mail that still asks for the second step, an
// application's sign-in, the administrator's removal, the required setting, and a log with no secret in it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { loadConfig } from '../src/config.ts';
import { buildApp } from '../src/app.ts';
import { ManualClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { codeAt } from '../src/modules/twostep/totp.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { APP_ORIGIN, Browser } from './support/oidc-browser.ts';

const STEP = 30_000;
const NEW_PASSWORD = 'Quiet-Lantern-77';

/** The key the set-up page shows as text (grouped by four), as a person would type it into the app. */
function secretOn(html: string): string {
  const grouped = /data-testid="authenticator-secret">([A-Z2-7 ]+)</.exec(html)?.[1];
  assert.ok(grouped, 'the set-up page shows the key as text');
  return grouped.replace(/ /g, '');
}

function recoveryCodesOn(html: string): string[] {
  const list = /data-testid="recovery-codes">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([a-z2-7-]+)<\/code>/g)].map((match) => match[1]!);
}

function sessionCookieOf(client: WebClient): string | undefined {
  return [...client.cookies].find(([name]) => name.endsWith('latchkey_session'))?.[1];
}

async function passwordStep(lk: TestApp, email: string, password = GOOD_PASSWORD, client = new WebClient(lk.url)) {
  await client.get('/login');
  const page = await client.post('/login', { email, password });
  return { client, page };
}

/** The app set up from /account by a signed-in person; returns the key and the recovery codes shown once. */
async function setUpApp(client: WebClient, clock: ManualClock): Promise<{ secret: string; codes: string[] }> {
  const account = await client.get('/account');
  assert.match(textOf(account.html), /Two-Step Verification Off/);
  const setup = await client.get('/account/two-step/authenticator');
  assert.equal(setup.status, 200);
  assert.match(setup.html, /<svg role="img" aria-label="QR code for your authenticator app"/, 'the QR code is drawn on the server');
  const secret = secretOn(setup.html);
  const setupField = /name="setup" value="([^"]+)"/.exec(setup.html)![1]!;
  const wrong = await client.post('/account/two-step/authenticator', { setup: setupField, code: codeAt(secret, clock.now() - 3 * STEP) });
  assert.equal(wrong.status, 400, 'a wrong first code sets nothing up');
  const shown = await client.post('/account/two-step/authenticator', { setup: setupField, code: codeAt(secret, clock.now()) });
  assert.equal(new URL(shown.url).pathname, '/account/two-step/recovery-codes');
  const codes = recoveryCodesOn(shown.html);
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  const again = await client.get('/account/two-step/recovery-codes');
  assert.equal(new URL(again.url).pathname, '/account', 'a reload shows the codes no more');
  assert.equal(recoveryCodesOn(again.html).length, 0);
  return { secret, codes };
}

describe('two-step verification', () => {
  let lk: TestApp;
  const clock = new ManualClock(Math.floor(Date.UTC(2026, 2, 1) / STEP) * STEP + 5_000);

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false });
  });
  after(() => lk.close());

  async function userWithApp(email: string, name: string) {
    const user = await lk.createUser({ email, name });
    const { client } = await passwordStep(lk, email);
    const { secret, codes } = await setUpApp(client, clock);
    // Each test starts in a later time step than the code that confirmed the app.
    clock.advance(STEP);
    return { user, secret, codes, client };
  }

  it('an app set up from /account asks for its code after the password; no session starts before it', async () => {
    const { user, secret } = await userWithApp('tess@example.com', 'Tess Two');
    const { client, page } = await passwordStep(lk, 'tess@example.com');
    assert.equal(new URL(page.url).pathname, '/login/two-step');
    assert.match(textOf(page.html), /Verification code/);
    assert.match(page.html, /<button type="submit">Verify<\/button>/);
    assert.match(page.html, />Use a recovery code</);
    assert.equal(sessionCookieOf(client), undefined, 'no session cookie between the steps');
    assert.equal((await lk.services.sessions.list(user.id)).length, 1, 'only the session that set the app up');
    const account = await client.get('/account');
    assert.equal(new URL(account.url).pathname, '/login', 'the account is out of reach before the second step');

    await client.get('/login/two-step');
    const done = await client.post('/login/two-step', { code: codeAt(secret, clock.now()) });
    assert.equal(new URL(done.url).pathname, '/account');
    assert.match(textOf(done.html), /Two-Step Verification On/);
    assert.ok(sessionCookieOf(client));
    const events = await lk.services.db.selectFrom('audit_events').select(['type', 'detail']).where('user_id', '=', user.id).orderBy('id').execute();
    const types = events.map((event) => event.type);
    for (const type of ['two_step.enabled', 'two_step.recovery_codes_created', 'two_step.used']) assert.ok(types.includes(type), type);
    assert.match(events.at(-1)!.detail!, /"secondStep":"authenticator"/);
  });

  it('a code is accepted once: the same code (or an older one) at the next login is refused', async () => {
    const { secret } = await userWithApp('once@example.com', 'Wan Sing');
    const code = codeAt(secret, clock.now());
    const first = await passwordStep(lk, 'once@example.com');
    await first.client.get('/login/two-step');
    assert.equal(new URL((await first.client.post('/login/two-step', { code })).url).pathname, '/account');

    const second = await passwordStep(lk, 'once@example.com');
    await second.client.get('/login/two-step');
    const reused = await second.client.post('/login/two-step', { code });
    assert.equal(reused.status, 401);
    assert.match(textOf(reused.html), /That code is not correct/);
    const older = await second.client.post('/login/two-step', { code: codeAt(secret, clock.now() - STEP) });
    assert.equal(older.status, 401, 'a code of an earlier step than one used is refused too');
    clock.advance(STEP);
    const next = await second.client.post('/login/two-step', { code: codeAt(secret, clock.now()) });
    assert.equal(new URL(next.url).pathname, '/account', 'the next step\'s code works');
  });

  it('the window: a code one step old or early works, two steps away does not', async () => {
    const { secret } = await userWithApp('window@example.com', 'Wyn Dow');
    // Away from the step that confirmed the app, which is used.
    clock.advance(2 * STEP);
    const { client } = await passwordStep(lk, 'window@example.com');
    await client.get('/login/two-step');
    assert.equal((await client.post('/login/two-step', { code: codeAt(secret, clock.now() - 2 * STEP) })).status, 401);
    assert.equal((await client.post('/login/two-step', { code: codeAt(secret, clock.now() + 2 * STEP) })).status, 401);
    assert.equal(new URL((await client.post('/login/two-step', { code: codeAt(secret, clock.now() - STEP) })).url).pathname, '/account');
    const early = await passwordStep(lk, 'window@example.com');
    await early.client.get('/login/two-step');
    assert.equal(new URL((await early.client.post('/login/two-step', { code: codeAt(secret, clock.now() + STEP) })).url).pathname, '/account');
  });

  it('guessing is paused after five wrong codes, even with the right one, and every try is audited', async () => {
    const { user, secret } = await userWithApp('guess@example.com', 'Gus Sing');
    const { client } = await passwordStep(lk, 'guess@example.com');
    await client.get('/login/two-step');
    const right = codeAt(secret, clock.now());
    for (let i = 0; i < 5; i++) {
      const wrong = String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
      assert.equal((await client.post('/login/two-step', { code: wrong })).status, 401);
    }
    const paused = await client.post('/login/two-step', { code: right });
    assert.equal(paused.status, 429);
    assert.match(textOf(paused.html), /Too many wrong codes/);
    // A new pending sign-in (the password again) does not reset the count: it belongs to the user.
    const again = await passwordStep(lk, 'guess@example.com');
    await again.client.get('/login/two-step');
    assert.equal((await again.client.post('/login/two-step', { code: right })).status, 429);
    assert.equal((await lk.services.sessions.list(user.id)).length, 1, 'no session started');
    const counts = await lk.services.db
      .selectFrom('audit_events')
      .select(['type', (eb) => eb.fn.countAll<number>().as('n')])
      .where('user_id', '=', user.id)
      .where('type', 'in', ['two_step.failed', 'login.throttled'])
      .groupBy('type')
      .execute();
    assert.deepEqual(Object.fromEntries(counts.map((row) => [row.type, Number(row.n)])), { 'two_step.failed': 5, 'login.throttled': 2 });
  });

  it('a recovery code signs in once; the same code again is refused; new codes replace the old', async () => {
    const { user, codes, client: owner } = await userWithApp('lost.phone@example.com', 'Lo St');
    const { client } = await passwordStep(lk, 'lost.phone@example.com');
    await client.get('/login/two-step/recovery');
    const used = await client.post('/login/two-step/recovery', { code: codes[3]!.toUpperCase() });
    assert.equal(new URL(used.url).pathname, '/account');
    assert.equal(/data-testid="recovery-codes-left">(\d+)</.exec(used.html)?.[1], '9');

    const twice = await passwordStep(lk, 'lost.phone@example.com');
    await twice.client.get('/login/two-step/recovery');
    const refused = await twice.client.post('/login/two-step/recovery', { code: codes[3]! });
    assert.equal(refused.status, 401);
    assert.match(textOf(refused.html), /already used/);
    const events = await lk.services.db.selectFrom('audit_events').select('type').where('user_id', '=', user.id).where('type', '=', 'two_step.recovery_code_used').execute();
    assert.equal(events.length, 1);

    await owner.get('/account');
    const fresh = await owner.post('/account/two-step/recovery-codes', {});
    const newCodes = recoveryCodesOn(fresh.html);
    assert.equal(newCodes.length, 10);
    await twice.client.get('/login/two-step/recovery');
    assert.equal((await twice.client.post('/login/two-step/recovery', { code: codes[4]! })).status, 401, 'an old unused code no longer works');
    assert.equal(new URL((await twice.client.post('/login/two-step/recovery', { code: newCodes[0]! })).url).pathname, '/account');
  });

  it('a pending sign-in lasts five minutes', async () => {
    const { secret } = await userWithApp('slow@example.com', 'Slo W');
    const { client } = await passwordStep(lk, 'slow@example.com');
    clock.advance(5 * 60_000 + 1);
    const late = await client.post('/login/two-step', { code: codeAt(secret, clock.now()) });
    assert.equal(new URL(late.url).pathname, '/login');
    assert.match(textOf(late.html), /The time for the second step ran out/);
  });

  it('a reset by mail changes the password, mails the notice, and still asks for the second step before any session', async () => {
    const { user, secret } = await userWithApp('forgot@example.com', 'For Got');
    const { link } = await lk.services.recovery.linkForHand(user.id, COMMAND_LINE);
    const client = new WebClient(lk.url);
    await client.get(new URL(link).pathname);
    const after = await client.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(new URL(after.url).pathname, '/login/two-step');
    assert.match(textOf(after.html), /Your password was changed/);
    assert.equal(sessionCookieOf(client), undefined);
    assert.equal((await lk.services.sessions.list(user.id)).length, 0, 'the reset ended every session and started none');
    const mails = await lk.services.db.selectFrom('mail_messages').select('template').where('user_id', '=', user.id).execute();
    assert.ok(mails.some((mail) => mail.template === 'password_changed'), 'the notification is queued');
    assert.equal((await client.get(new URL(link).pathname)).status, 410, 'the link is used');
    const old = await passwordStep(lk, 'forgot@example.com');
    assert.equal(old.page.status, 401, 'the old password is gone');

    await client.get('/login/two-step');
    const done = await client.post('/login/two-step', { code: codeAt(secret, clock.now()) });
    assert.equal(new URL(done.url).pathname, '/account');
    assert.match(textOf(done.html), /Your password was changed/);
    const login = await lk.services.db.selectFrom('audit_events').select('detail').where('user_id', '=', user.id).where('type', '=', 'login.succeeded').orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.match(login.detail!, /"via":"reset link"/);
  });

  it('an administrator removes two-step verification: confirmed, audited, mailed, every session ended', async () => {
    const admin = await lk.createUser({ email: 'chief@example.com', name: 'Chief Admin', admin: true });
    const { user, client: owner } = await userWithApp('gone.both@example.com', 'Gone Both');
    const { client } = await passwordStep(lk, 'chief@example.com');
    const list = await client.get('/admin/users?filter=two-step-on');
    assert.match(textOf(list.html), /Gone Both/);
    assert.doesNotMatch(textOf(list.html), /chief@example\.com/);
    assert.match(textOf((await client.get('/admin/users?filter=two-step-off')).html), /chief@example\.com/);
    const page = await client.get(`/admin/users/${user.id}`);
    assert.match(textOf(page.html), /Two-Step Verification Authenticator app/);
    assert.match(page.html, />Remove Two-Step Verification</);
    const confirm = await client.get(`/admin/users/${user.id}/remove-two-step`);
    assert.match(textOf(confirm.html), /Confirm/);
    const done = await client.post(`/admin/users/${user.id}/remove-two-step`, {});
    assert.match(textOf(done.html), /Two-step verification was removed from gone.both@example.com/);
    assert.equal((await lk.services.sessions.list(user.id)).length, 0);
    assert.equal(new URL((await owner.get('/account')).url).pathname, '/login', "the user's session ended");
    const event = await lk.services.db.selectFrom('audit_events').selectAll().where('type', '=', 'two_step.removed').where('user_id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(event.actor_id, admin.id);
    const mail = await lk.services.db.selectFrom('mail_messages').select('subject').where('user_id', '=', user.id).where('template', '=', 'two_step_removed').executeTakeFirstOrThrow();
    assert.equal(mail.subject, 'Two-step verification was removed from your account');
    const back = await passwordStep(lk, 'gone.both@example.com');
    assert.equal(new URL(back.page.url).pathname, '/account', 'the password alone lets the user in again');
    assert.equal((await client.post(`/admin/users/${user.id}/remove-two-step`, { _csrf: back.client.csrfToken() })).status, 403, 'a stale form is refused');
  });

  it('the Security view counts failed second steps', async () => {
    await lk.createUser({ email: 'watch@example.com', name: 'Watch Er', admin: true });
    const { client } = await passwordStep(lk, 'watch@example.com');
    const page = await client.get('/admin/security');
    assert.match(textOf(page.html), /Failed second steps/);
    const failed = await lk.services.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'two_step.failed').executeTakeFirstOrThrow();
    assert.ok(Number(failed.n) >= 5);
  });
});

describe('two-step verification required by the settings', () => {
  let lk: TestApp;
  const clock = new ManualClock(Math.floor(Date.UTC(2026, 3, 1) / STEP) * STEP + 5_000);

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false, env: { LATCHKEY_TWO_STEP_REQUIRED: 'admins' } });
  });
  after(() => lk.close());

  it('an administrator without it is led to set it up at login, before reaching anything else', async () => {
    await lk.createUser({ email: 'boss@example.com', name: 'Bo Ss', admin: true });
    const { client, page } = await passwordStep(lk, 'boss@example.com');
    assert.equal(new URL(page.url).pathname, '/login/two-step');
    assert.match(textOf(page.html), /requires two-step verification/);
    assert.equal(sessionCookieOf(client), undefined);
    assert.equal(new URL((await client.get('/admin/users')).url).pathname, '/login');
    const setup = await client.get('/login/two-step');
    const secret = secretOn(setup.html);
    const shown = await client.post('/login/two-step', { setup: /name="setup" value="([^"]+)"/.exec(setup.html)![1]!, code: codeAt(secret, clock.now()) });
    assert.equal(new URL(shown.url).pathname, '/account/two-step/recovery-codes');
    assert.equal(recoveryCodesOn(shown.html).length, 10);
    assert.equal((await client.get('/admin/users')).status, 200, 'now signed in');
  });

  it('a user who is not an administrator logs in with the password alone', async () => {
    await lk.createUser({ email: 'staff@example.com', name: 'Sta Ff' });
    const { page } = await passwordStep(lk, 'staff@example.com');
    assert.equal(new URL(page.url).pathname, '/account');
  });
});

describe('two-step verification at an application\'s sign-in', () => {
  let lk: TestApp;
  const clock = new ManualClock(Math.floor(Date.now() / STEP) * STEP);

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false });
  });
  after(() => lk.close());

  it('the password, then the second step on Latchkey\'s page, then back at the application signed in', async () => {
    const user = await lk.createUser({ email: 'app.user@example.com', name: 'Ap User' });
    const { client } = await passwordStep(lk, 'app.user@example.com');
    const { secret } = await setUpApp(client, clock);
    clock.advance(STEP);
    const created = await lk.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [`${APP_ORIGIN}/callback`], postLogoutRedirectUris: [], scopes: ['openid', 'email'] },
      COMMAND_LINE,
    );
    const issuer = new URL(lk.services.config.baseUrl.href.replace(/\/$/, ''));
    const config = await oidc.discovery(issuer, created.application.id, created.secret!, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${APP_ORIGIN}/callback`,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const browser = new Browser();
    assert.equal(await browser.go(url.toString()), null);
    assert.equal(await browser.submit('/login', { email: 'app.user@example.com', password: GOOD_PASSWORD }, lk.url), null, 'not back at the application after the password');
    assert.match(textOf(browser.html), /Verification code/);
    assert.equal(await browser.submit('/login/two-step', { code: '000000' === codeAt(secret, clock.now()) ? '111111' : '000000' }, lk.url), null);
    assert.match(textOf(browser.html), /That code is not correct/);
    assert.equal(await browser.submit('/login/two-step', { code: codeAt(secret, clock.now()) }, lk.url), null);
    const onward = /href="([^"]*)">Continue signing in</.exec(browser.html)?.[1];
    assert.ok(onward?.startsWith('/oidc/interaction/'), `"Continue signing in" (page: ${textOf(browser.html).slice(0, 200)})`);
    const callback = await browser.go(new URL(onward!, lk.url).toString());
    assert.ok(callback, `back at the application (page: ${textOf(browser.html).slice(0, 200)})`);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(tokens.claims()!.sub, user.id);
  });
});

describe('the server log during two-step verification', () => {
  it('holds no key, code, recovery code or password, through setup, login, recovery code and reset', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-two-step-log-'));
    let output = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    });
    const port = await freePort();
    const clock = new ManualClock(Math.floor(Date.UTC(2026, 4, 1) / STEP) * STEP + 5_000);
    const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir, LATCHKEY_PORT: String(port), LATCHKEY_RATE_LIMIT: '0', NODE_ENV: 'test' };
    const services = await createServices(loadConfig(env, dir), clock, createLogger('trace', sink));
    const app = await buildApp(services);
    await app.listen({ port, host: '127.0.0.1' });
    const lk = { url: `http://127.0.0.1:${port}` } as TestApp;
    try {
      const user = await services.users.create({ email: 'hush@example.com', name: 'Hu Sh', password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
      const { client } = await passwordStep(lk, 'hush@example.com');
      const { secret, codes } = await setUpApp(client, clock);
      const used: string[] = [];
      clock.advance(STEP);
      const login = await passwordStep(lk, 'hush@example.com');
      await login.client.get('/login/two-step');
      used.push(codeAt(secret, clock.now()));
      await login.client.post('/login/two-step', { code: '999999' });
      await login.client.post('/login/two-step', { code: used[0]! });
      const rescue = await passwordStep(lk, 'hush@example.com');
      await rescue.client.get('/login/two-step/recovery');
      await rescue.client.post('/login/two-step/recovery', { code: codes[0]! });
      const { link } = await services.recovery.linkForHand(user.id, COMMAND_LINE);
      const reset = new WebClient(lk.url);
      await reset.get(new URL(link).pathname);
      const changed = await reset.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      assert.equal(new URL(changed.url).pathname, '/login/two-step', textOf(changed.html));
      clock.advance(STEP);
      used.push(codeAt(secret, clock.now()));
      await reset.get('/login/two-step');
      const done = await reset.post('/login/two-step', { code: used[1]! });
      assert.equal(new URL(done.url).pathname, '/account', 'the journey went through');
      assert.ok(output.length > 0 && output.includes('/login/two-step'), 'the requests were logged');
      const pending = [...reset.cookies.values()];
      for (const [what, value] of [
        ['the key', secret],
        ['the password', GOOD_PASSWORD],
        ['the new password', NEW_PASSWORD],
        ...codes.map((code) => ['a recovery code', code] as const),
        ...used.map((code) => ['a code', code] as const),
        ...pending.map((cookie) => ['a cookie', cookie] as const),
      ]) {
        assert.ok(!output.includes(value), `the log holds ${what}`);
      }
    } finally {
      await app.close();
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('latchkey users remove-two-step', () => {
  it('removes the app and the codes of a locked-out administrator, ends the sessions and mails the user; refuses one without', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-two-step-cli-'));
    const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir, NODE_ENV: 'test' };
    const open = () => createServices(loadConfig(env, dir), new ManualClock(), createLogger('silent'));
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'users', ...args], { cwd: fileURLToPath(new URL('..', import.meta.url)), env: cleanEnv(env) }).then(
        (done) => ({ code: 0, ...done }),
        (failed: { code: number; stdout: string; stderr: string }) => failed,
      );
    try {
      let services = await open();
      const admin = await services.users.create({ email: 'last.admin@example.com', name: 'Last Admin', password: GOOD_PASSWORD, role: 'admin' }, COMMAND_LINE);
      const setup = await services.twoStep.newSetup(admin);
      await services.twoStep.enable(admin, setup.secret, codeAt(setup.secret, services.clock.now()), COMMAND_LINE);
      await services.sessions.start(services.db, admin.id, COMMAND_LINE);
      await services.close();

      const removed = await cli('remove-two-step', 'Last.Admin@example.com');
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(removed.stdout, 'Two-step verification removed from last.admin@example.com; every session of the user ended.\n');
      const again = await cli('remove-two-step', 'last.admin@example.com');
      assert.equal(again.code, 1);
      assert.equal(again.stderr, 'latchkey: last.admin@example.com has no two-step verification to remove.\n');

      services = await open();
      try {
        assert.equal((await services.twoStep.methodsOf(admin.id)).authenticator, null);
        assert.equal((await services.sessions.list(admin.id)).length, 0);
        const event = await services.db.selectFrom('audit_events').select('detail').where('type', '=', 'two_step.removed').executeTakeFirstOrThrow();
        assert.match(event.detail!, /"by":"command line"/);
        const mail = await services.db.selectFrom('mail_messages').select('template').where('user_id', '=', admin.id).where('template', '=', 'two_step_removed').execute();
        assert.equal(mail.length, 1);
      } finally {
        await services.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
