// Passkeys over HTTP with a software passkey (test/support/webauthn.ts) and an injected clock: the options each
// ceremony gets, adding several and removing them, the second step, logging in with a passkey alone, challenges that
// answer once and expire, an application's sign-in and its ID token's amr, the administrator's removal and the
// "Two-step on/off" filter, and a log with no challenge, credential or signature in it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { loadConfig } from '../src/config.ts';
import { buildApp } from '../src/app.ts';
import { ManualClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { freePort } from './support/net.ts';
import { APP_ORIGIN, Browser } from './support/oidc-browser.ts';
import { SoftwarePasskey } from './support/webauthn.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';

async function logIn(base: string, email: string, password = GOOD_PASSWORD, client = new WebClient(base)) {
  await client.get('/login');
  const page = await client.post('/login', { email, password });
  return { client, page };
}

/** What the page's script fetches before the ceremony (JSON), keeping the CSRF token of the page itself. */
async function optionsFor<T>(client: WebClient, ceremony: string): Promise<{ options: T; csrf: string }> {
  const csrf = client.csrfToken();
  const answer = await client.get(`/passkeys/options/${ceremony}`);
  assert.equal(answer.status, 200, answer.html);
  return { options: JSON.parse(answer.html) as T, csrf };
}

/** "Add a Passkey" from /account with the software passkey; returns the page it led to. */
async function addPasskey(client: WebClient, passkey: SoftwarePasskey, name: string, passwordless: boolean) {
  await client.get('/account/two-step/passkey');
  const { options, csrf } = await optionsFor<PublicKeyCredentialCreationOptionsJSON>(client, `register?passwordless=${passwordless ? 'yes' : 'no'}`);
  const page = await client.post('/account/two-step/passkey', { _csrf: csrf, name, response: JSON.stringify(passkey.register(options)) });
  return { page, options };
}

/** "Use a passkey" on /login/two-step. */
async function secondStep(client: WebClient, passkey: SoftwarePasskey, rpId = 'localhost') {
  await client.get('/login/two-step');
  const { options, csrf } = await optionsFor<PublicKeyCredentialRequestOptionsJSON>(client, 'second-step');
  return client.post('/login/two-step/passkey', { _csrf: csrf, response: JSON.stringify(passkey.authenticate(options, rpId)) });
}

/** "Log in with a passkey" on /login. */
async function passkeyAlone(client: WebClient, passkey: SoftwarePasskey, next = '') {
  await client.get(`/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  const { options, csrf } = await optionsFor<PublicKeyCredentialRequestOptionsJSON>(client, 'sign-in');
  const response = JSON.stringify(passkey.authenticate(options, 'localhost'));
  return { page: await client.post(`/login/passkey${next ? `?next=${encodeURIComponent(next)}` : ''}`, { _csrf: csrf, response }), response, options };
}

function recoveryCodesOn(html: string): string[] {
  const list = /data-testid="recovery-codes">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([a-z2-7-]+)<\/code>/g)].map((match) => match[1]!);
}

function challengeCookie(client: WebClient): [string, string] {
  return [...client.cookies].find(([name]) => name.endsWith('latchkey_passkey-challenge'))!;
}

describe('passkeys', () => {
  let lk: TestApp;
  let origin: string;
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9));

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false });
    origin = lk.services.config.baseUrl.origin;
  });
  after(() => lk.close());

  async function eventsOf(userId: string) {
    const rows = await lk.services.db.selectFrom('audit_events').select(['type', 'detail']).where('user_id', '=', userId).orderBy('id').execute();
    return rows.map((row) => `${row.type} ${row.detail ?? ''}`);
  }

  async function userWithPasskey(email: string, name: string, passwordless = false, options: { synced?: boolean } = {}) {
    const user = await lk.createUser({ email, name });
    const { client } = await logIn(lk.url, email);
    const passkey = new SoftwarePasskey(origin, options);
    const { page } = await addPasskey(client, passkey, 'Laptop', passwordless);
    assert.equal(new URL(page.url).pathname, '/account/two-step/recovery-codes', textOf(page.html));
    return { user, client, passkey, codes: recoveryCodesOn(page.html) };
  }

  it('the first passkey turns two-step verification on with recovery codes, a second adds none; /account lists both with their times', async () => {
    const user = await lk.createUser({ email: 'pat@example.com', name: 'Pat Key' });
    const { client } = await logIn(lk.url, 'pat@example.com');
    const form = await client.get('/account/two-step/passkey');
    assert.match(textOf(form.html), /Passkey name/);
    assert.match(textOf(form.html), /Use this passkey to log in without a password/);
    assert.match(form.html, /<script src="\/assets\/webauthn.js" defer><\/script><script src="\/assets\/passkeys.js" defer><\/script>/);
    assert.doesNotMatch(form.html, /<script>/, 'no inline script');

    const laptop = new SoftwarePasskey(origin);
    const first = await addPasskey(client, laptop, 'Work laptop', false);
    assert.equal(first.options.rp.id, 'localhost', 'passkeys belong to the host of LATCHKEY_BASE_URL');
    assert.equal(first.options.user.name, 'pat@example.com');
    assert.deepEqual(first.options.authenticatorSelection, { residentKey: 'preferred', userVerification: 'preferred', requireResidentKey: false });
    assert.equal(new URL(first.page.url).pathname, '/account/two-step/recovery-codes');
    assert.equal(recoveryCodesOn(first.page.html).length, 10);

    clock.advance(60_000);
    const phone = new SoftwarePasskey(origin, { synced: true });
    const second = await addPasskey(client, phone, 'Phone', true);
    assert.equal(second.options.authenticatorSelection?.residentKey, 'required', 'a passkey for use alone is discoverable');
    assert.equal(second.options.authenticatorSelection?.userVerification, 'required', 'and verifies the person');
    assert.deepEqual(second.options.excludeCredentials?.map((c) => c.id), [laptop.id], 'the laptop is not added twice');
    assert.equal(new URL(second.page.url).pathname + new URL(second.page.url).search, '/account?notice=passkey-added');
    const account = textOf(second.page.html);
    assert.match(account, /Two-Step Verification On: after your password, Latchkey asks for one of your passkeys/);
    assert.match(account, /Work laptop Jun 1, 2026, 09:00 UTC — No/);
    assert.match(account, /Phone Jun 1, 2026, 09:01 UTC — Yes/);
    assert.match(account, /Recovery codes left: 10 of 10/);
    assert.match(second.page.html, />Set Up Authenticator App</);
    assert.match(second.page.html, />Add a Passkey</);

    const events = await eventsOf(user.id);
    assert.equal(events.filter((e) => e.startsWith('two_step.enabled') && e.includes('"method":"passkey"')).length, 2);
    assert.equal(events.filter((e) => e.startsWith('two_step.recovery_codes_created')).length, 1);
    assert.ok(events.some((e) => e.includes('"name":"Phone"') && e.includes('"passwordless":true')));
  });

  it('a passkey is refused without a name, from another site, or for a ceremony that was not this browser\'s', async () => {
    await lk.createUser({ email: 'nia@example.com', name: 'Nia Name' });
    const { client } = await logIn(lk.url, 'nia@example.com');
    const nameless = await addPasskey(client, new SoftwarePasskey(origin), '   ', false);
    assert.equal(nameless.page.status, 400);
    assert.match(textOf(nameless.page.html), /Give the passkey a name/);
    const elsewhere = await addPasskey(client, new SoftwarePasskey('https://evil.example'), 'Laptop', false);
    assert.equal(elsewhere.page.status, 400);
    assert.match(textOf(elsewhere.page.html), /The passkey was not added/);
    // No options fetched: no challenge in this browser (as without JavaScript).
    await client.get('/account/two-step/passkey');
    const bare = await client.post('/account/two-step/passkey', { name: 'Laptop', response: '' });
    assert.equal(bare.status, 400);
    assert.match(textOf(bare.html), /The passkey prompt expired/);
    assert.match(textOf((await client.get('/account')).html), /Two-Step Verification Off/);
  });

  it('a passkey is the second step after the password; a stranger\'s passkey is refused, counted and audited', async () => {
    const { user, passkey } = await userWithPasskey('sam@example.com', 'Sam Second');
    const { client, page } = await logIn(lk.url, 'sam@example.com');
    assert.equal(new URL(page.url).pathname, '/login/two-step');
    assert.match(page.html, />Use a passkey</);
    assert.doesNotMatch(textOf(page.html), /Verification code/, 'no code form without an app');
    assert.equal((await lk.services.sessions.list(user.id)).length, 1, 'only the session that added the passkey');

    // Without JavaScript the button posts nothing: that is said, and not counted as a failure.
    const bare = await client.post('/login/two-step/passkey', { response: '' });
    assert.equal(bare.status, 400);
    assert.match(textOf(bare.html), /Your browser sent no passkey\. Passkeys need JavaScript/);
    const odd = await client.post('/login/two-step/passkey', { response: JSON.stringify({ id: 'a\u0000b', response: {} }) });
    assert.equal(odd.status, 400, 'an answer that is not one gets the same page, never a 500');
    const stranger = await secondStep(client, new SoftwarePasskey(origin));
    assert.equal(stranger.status, 401);
    assert.match(textOf(stranger.html), /That passkey could not be verified/);
    const otherSite = await secondStep(client, passkey, 'evil.example');
    assert.equal(otherSite.status, 401, 'signed for another site');

    const done = await secondStep(client, passkey);
    assert.equal(new URL(done.url).pathname, '/account');
    const sessions = await lk.services.sessions.list(user.id);
    assert.deepEqual(sessions.map((session) => session.amr).sort(), ['pwd', 'pwd hwk mfa'], 'the session that added the passkey, and this one');
    const events = await eventsOf(user.id);
    assert.equal(events.filter((e) => e.startsWith('two_step.failed') && e.includes('"method":"passkey"')).length, 2);
    assert.ok(events.some((e) => e.startsWith('two_step.used') && e.includes('"method":"passkey"') && e.includes('"passkey":"Laptop"')));
    assert.match(textOf(done.html), /Laptop Jun 1, 2026, 09:\d\d UTC Jun 1, 2026, 09:\d\d UTC No/, 'the last use is shown');
  });

  // @simplewebauthn/server parses P-256 signatures with @peculiar/asn1-schema: package.json's overrides keep one copy of
  // it (a test tool pins an older one, and two copies make the parse fail).
  it('a passkey that signs with P-256 (ES256), as Apple devices and most phones do, passes the second step', async () => {
    const user = await lk.createUser({ email: 'eve.es256@example.com', name: 'Eve Curve' });
    const { client } = await logIn(lk.url, user.email);
    const passkey = new SoftwarePasskey(origin, { algorithm: 'ES256' });
    await addPasskey(client, passkey, 'iPhone', false);
    const second = await logIn(lk.url, user.email);
    const done = await secondStep(second.client, passkey);
    assert.equal(new URL(done.url).pathname, '/account', textOf(done.html).slice(0, 200));
  });

  it('a challenge answers once, and not after five minutes', async () => {
    const { passkey } = await userWithPasskey('cal@example.com', 'Cal Lenge', true);
    // The same answer, with the same challenge cookie, posted again from another browser.
    const first = new WebClient(lk.url);
    await first.get('/login');
    const { options, csrf } = await optionsFor<PublicKeyCredentialRequestOptionsJSON>(first, 'sign-in');
    const response = JSON.stringify(passkey.authenticate(options, 'localhost'));
    const [name, sealed] = challengeCookie(first);
    assert.equal(new URL((await first.post('/login/passkey', { _csrf: csrf, response })).url).pathname, '/account');
    const replay = new WebClient(lk.url);
    await replay.get('/login');
    replay.cookies.set(name, sealed);
    const again = await replay.post('/login/passkey', { response });
    assert.equal(again.status, 401, 'the challenge was answered already');
    // The cookie went with the first answer: the same browser cannot answer twice either.
    const twice = await first.post('/login/passkey', { _csrf: first.csrfToken(), response });
    assert.equal(twice.status, 401);

    const late = new WebClient(lk.url);
    await late.get('/login');
    const asked = await optionsFor<PublicKeyCredentialRequestOptionsJSON>(late, 'sign-in');
    clock.advance(301_000);
    const expired = await late.post('/login/passkey', { _csrf: asked.csrf, response: JSON.stringify(passkey.authenticate(asked.options, 'localhost')) });
    assert.equal(expired.status, 401, 'the challenge expired');
    assert.match(textOf(expired.html), /That passkey could not log you in/);
  });

  it('a passkey alone logs in only if its owner chose that, and goes on to ?next=', async () => {
    const { user: alone, passkey: aloneKey } = await userWithPasskey('al@example.com', 'Al One', true, { synced: true });
    const { user: plain, passkey: plainKey } = await userWithPasskey('plain@example.com', 'Plain Key', false);
    const options = await lk.services.twoStep.passkeySignInOptions();
    assert.deepEqual(options.allowCredentials, [], 'any discoverable passkey of this site');
    assert.equal(options.userVerification, 'required');

    const refused = await passkeyAlone(new WebClient(lk.url), plainKey);
    assert.equal(refused.page.status, 401);
    assert.match(textOf(refused.page.html), /That passkey could not log you in/);
    assert.ok((await eventsOf(plain.id)).some((e) => e.startsWith('login.failed') && e.includes('"via":"passkey"')));

    const { page } = await passkeyAlone(new WebClient(lk.url), aloneKey, '/account/two-step/passkey');
    assert.equal(new URL(page.url).pathname, '/account/two-step/passkey', 'on to ?next=');
    const sessions = await lk.services.sessions.list(alone.id);
    assert.deepEqual(sessions.map((session) => session.amr).sort(), ['pwd', 'swk'], 'a synced passkey is a software key');
    assert.ok((await eventsOf(alone.id)).some((e) => e.startsWith('login.succeeded') && e.includes('"via":"passkey"')));
    assert.equal(new URL((await passkeyAlone(new WebClient(lk.url), aloneKey, '//evil.example/')).page.url).pathname, '/account', 'never another host');
  });

  it('failed passkey logins are paused per network address after ten', async () => {
    // Earlier tests failed a few times from this address too; each failure counts.
    const stranger = new SoftwarePasskey(origin);
    let tries = 0;
    let paused = await passkeyAlone(new WebClient(lk.url), stranger);
    while (paused.page.status === 401 && tries++ < 10) paused = await passkeyAlone(new WebClient(lk.url), stranger);
    assert.equal(paused.page.status, 429);
    assert.ok(tries > 0 && tries <= 10, `paused after ${tries} more`);
    assert.match(textOf(paused.page.html), /Too many passkey attempts/);
    clock.advance(16 * 60_000);
  });

  it('a reset by mail still asks for the passkey before any session', async () => {
    const { user, passkey } = await userWithPasskey('rita@example.com', 'Rita Reset');
    const { link } = await lk.services.recovery.linkForHand(user.id, COMMAND_LINE);
    const client = new WebClient(lk.url);
    await client.get(new URL(link).pathname);
    const changed = await client.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(new URL(changed.url).pathname, '/login/two-step', textOf(changed.html));
    assert.match(textOf(changed.html), /Your password was changed/);
    assert.equal((await lk.services.sessions.list(user.id)).length, 0);
    const done = await secondStep(client, passkey);
    assert.equal(new URL(done.url).pathname + new URL(done.url).search, '/account?notice=password-changed');
    assert.ok((await eventsOf(user.id)).some((e) => e.startsWith('login.succeeded') && e.includes('"via":"reset link"') && e.includes('"secondStep":"passkey"')));
  });

  it('removing passkeys: only one\'s own; the last one turns two-step verification off, recovery codes too', async () => {
    const { user, client } = await userWithPasskey('rob@example.com', 'Rob Remove');
    await addPasskey(client, new SoftwarePasskey(origin), 'Spare key', false);
    const { user: other } = await userWithPasskey('otto@example.com', 'Otto Other');
    const [othersKey] = (await lk.services.twoStep.methodsOf(other.id)).passkeys;
    const own = (await lk.services.twoStep.methodsOf(user.id)).passkeys;
    const laptop = own.find((passkey) => passkey.name === 'Laptop');
    const spare = own.find((passkey) => passkey.name === 'Spare key');

    await client.get('/account');
    await client.post(`/account/two-step/passkeys/${othersKey!.id}/remove`, {});
    assert.equal((await lk.services.twoStep.methodsOf(other.id)).passkeys.length, 1, "another user's passkey stays");
    await client.get('/account');
    assert.equal((await client.post(`/account/two-step/passkeys/${spare!.id}/remove`, { _csrf: 'forged' })).status, 403, 'CSRF-protected');
    await client.get('/account');
    const afterOne = await client.post(`/account/two-step/passkeys/${spare!.id}/remove`, {});
    assert.match(textOf(afterOne.html), /The passkey was removed/);
    assert.match(textOf(afterOne.html), /Two-Step Verification On/);
    const afterLast = await client.post(`/account/two-step/passkeys/${laptop!.id}/remove`, {});
    assert.match(textOf(afterLast.html), /Two-Step Verification Off/);
    assert.equal((await lk.services.twoStep.methodsOf(user.id)).recoveryCodesLeft, 0);
    assert.equal(await lk.services.db.selectFrom('two_step_recovery_codes').select('user_id').where('user_id', '=', user.id).executeTakeFirst(), undefined);
    const removed = (await eventsOf(user.id)).filter((e) => e.startsWith('two_step.passkey_removed'));
    assert.equal(removed.length, 2);
    assert.match(removed[0]!, /"name":"Spare key","twoStepOff":false/);
    assert.match(removed[1]!, /"name":"Laptop","twoStepOff":true/);
    assert.equal(new URL((await logIn(lk.url, 'rob@example.com')).page.url).pathname, '/account', 'the password alone lets him in again');
  });

  it('the "Two-step on/off" filter and an administrator\'s removal cover passkeys', async () => {
    await lk.createUser({ email: 'boss@example.com', name: 'Boss Admin', admin: true });
    const { user } = await userWithPasskey('kim@example.com', 'Kim Keyonly');
    const { client } = await logIn(lk.url, 'boss@example.com');
    assert.match(textOf((await client.get('/admin/users?filter=two-step-on')).html), /kim@example\.com/);
    assert.doesNotMatch(textOf((await client.get('/admin/users?filter=two-step-off')).html), /kim@example\.com/);
    const page = await client.get(`/admin/users/${user.id}`);
    assert.match(textOf(page.html), /Two-Step Verification 1 passkey \(Laptop\); 10 recovery codes left/);
    assert.match(page.html, />Remove Two-Step Verification</);
    await client.get(`/admin/users/${user.id}/remove-two-step`);
    const done = await client.post(`/admin/users/${user.id}/remove-two-step`, {});
    assert.match(textOf(done.html), /Two-step verification was removed from kim@example.com/);
    assert.equal((await lk.services.twoStep.methodsOf(user.id)).passkeys.length, 0);
    assert.match(textOf((await client.get('/admin/users?filter=two-step-off')).html), /kim@example\.com/);
    assert.equal(new URL((await logIn(lk.url, 'kim@example.com')).page.url).pathname, '/account');
  });
});

describe('a passkey set up at login when the settings require two-step verification', () => {
  let lk: TestApp;
  before(async () => {
    lk = await startTestApp({ startWorker: false, env: { LATCHKEY_TWO_STEP_REQUIRED: 'admins' } });
  });
  after(() => lk.close());

  it('an administrator without a method adds a passkey on the set-up page, gets the recovery codes, then goes on', async () => {
    const admin = await lk.createUser({ email: 'req@example.com', name: 'Req Admin', admin: true });
    const client = new WebClient(lk.url);
    await client.get('/login?next=%2Fadmin%2Fusers');
    const setup = await client.post('/login?next=%2Fadmin%2Fusers', { email: 'req@example.com', password: GOOD_PASSWORD });
    assert.equal(new URL(setup.url).pathname, '/login/two-step');
    assert.match(textOf(setup.html), /Or add a passkey/);
    const passkey = new SoftwarePasskey(lk.services.config.baseUrl.origin);
    const { options, csrf } = await optionsFor<PublicKeyCredentialCreationOptionsJSON>(client, 'register');
    assert.equal(options.authenticatorSelection?.residentKey, 'preferred', 'a second step, not a password\'s replacement');
    assert.equal((await lk.services.sessions.list(admin.id)).length, 0, 'no session before');
    const codes = await client.post('/login/two-step/new-passkey', { _csrf: csrf, name: 'Desk key', response: JSON.stringify(passkey.register(options)) });
    assert.equal(new URL(codes.url).pathname, '/account/two-step/recovery-codes', textOf(codes.html).slice(0, 300));
    assert.equal(recoveryCodesOn(codes.html).length, 10);
    assert.match(codes.html, /href="\/admin\/users"/, 'then on to where the login was going');
    const [session] = await lk.services.sessions.list(admin.id);
    assert.equal(session!.amr, 'pwd hwk mfa');
    // Next time the passkey is the second step.
    const again = await logIn(lk.url, 'req@example.com');
    assert.match(again.page.html, />Use a passkey</);
    assert.equal(new URL((await secondStep(again.client, passkey)).url).pathname, '/account');
  });
});

describe('passkeys at an application\'s sign-in', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
  });
  after(() => lk.close());

  async function signInTo(lkApp: TestApp) {
    const created = await lkApp.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [`${APP_ORIGIN}/callback`], postLogoutRedirectUris: [], scopes: ['openid', 'email'] },
      COMMAND_LINE,
    );
    const issuer = new URL(lkApp.services.config.baseUrl.href.replace(/\/$/, ''));
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
    /** Back at the application from Latchkey's "Continue signing in": the ID token's claims. */
    const finish = async () => {
      const onward = /href="([^"]*)">Continue signing in</.exec(browser.html)?.[1];
      assert.ok(onward?.startsWith('/oidc/interaction/'), `"Continue signing in" (page: ${textOf(browser.html).slice(0, 200)})`);
      const callback = await browser.go(new URL(onward!, lkApp.url).toString());
      assert.ok(callback, `back at the application (page: ${textOf(browser.html).slice(0, 200)})`);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
      return tokens.claims()!;
    };
    /** The page's script: options fetched, the passkey asked, the answer posted with the form. */
    const usePasskey = async (passkey: SoftwarePasskey, ceremony: string, action: string) => {
      const page = browser.html;
      await browser.go(new URL(`/passkeys/options/${ceremony}`, lkApp.url).toString());
      const options = JSON.parse(browser.html) as PublicKeyCredentialRequestOptionsJSON;
      browser.html = page;
      return browser.submit(action, { response: JSON.stringify(passkey.authenticate(options, 'localhost')) }, lkApp.url);
    };
    return { browser, finish, usePasskey };
  }

  it('a passkey alone from the application\'s login form: back at the application, amr ["swk"]; password and passkey: ["pwd","hwk","mfa"]', async () => {
    const user = await lk.createUser({ email: 'ola@example.com', name: 'Ola App' });
    const { client } = await logIn(lk.url, 'ola@example.com');
    const phone = new SoftwarePasskey(lk.services.config.baseUrl.origin, { synced: true });
    await addPasskey(client, phone, 'Phone', true);
    const key = new SoftwarePasskey(lk.services.config.baseUrl.origin);
    await addPasskey(client, key, 'Key', false);

    const alone = await signInTo(lk);
    assert.match(alone.browser.html, /action="\/login\/passkey\?next=%2Foidc%2Finteraction%2F/);
    assert.equal(await alone.usePasskey(phone, 'sign-in', '/login/passkey'), null);
    const claims = await alone.finish();
    assert.equal(claims.sub, user.id);
    assert.deepEqual(claims.amr, ['swk']);

    const both = await signInTo(lk);
    assert.equal(await both.browser.submit('/login', { email: 'ola@example.com', password: GOOD_PASSWORD }, lk.url), null);
    assert.match(both.browser.html, />Use a passkey</);
    assert.equal(await both.usePasskey(key, 'second-step', '/login/two-step/passkey'), null);
    assert.deepEqual((await both.finish()).amr, ['pwd', 'hwk', 'mfa']);
  });
});

describe('the server log during passkey ceremonies', () => {
  it('holds no challenge, credential, public key, signature or cookie', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-passkey-log-'));
    let output = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    });
    const port = await freePort();
    const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir, LATCHKEY_PORT: String(port), LATCHKEY_RATE_LIMIT: '0', NODE_ENV: 'test' };
    const services = await createServices(loadConfig(env, dir), new ManualClock(Date.UTC(2026, 6, 1)), createLogger('trace', sink));
    const app = await buildApp(services);
    await app.listen({ port, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${port}`;
    try {
      const user = await services.users.create({ email: 'quiet@example.com', name: 'Qui Et', password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
      const { client } = await logIn(base, 'quiet@example.com');
      const passkey = new SoftwarePasskey(services.config.baseUrl.origin);
      const secrets: string[] = [passkey.id, GOOD_PASSWORD];
      const added = await addPasskey(client, passkey, 'Laptop', true);
      secrets.push(added.options.challenge, ...recoveryCodesOn(added.page.html));
      const login = await logIn(base, 'quiet@example.com');
      await login.client.get('/login/two-step');
      const { options, csrf } = await optionsFor<PublicKeyCredentialRequestOptionsJSON>(login.client, 'second-step');
      secrets.push(options.challenge, ...login.client.cookies.values());
      const answer = passkey.authenticate(options, 'localhost');
      secrets.push(answer.response.signature, answer.response.authenticatorData);
      assert.equal(new URL((await login.client.post('/login/two-step/passkey', { _csrf: csrf, response: JSON.stringify(answer) })).url).pathname, '/account');
      const alone = await passkeyAlone(new WebClient(base), passkey);
      secrets.push(alone.options.challenge);
      assert.equal(new URL(alone.page.url).pathname, '/account');
      const stored = (await services.db.selectFrom('passkeys').select('public_key').where('user_id', '=', user.id).executeTakeFirstOrThrow()).public_key;
      secrets.push(stored);
      assert.ok(output.includes('/login/two-step/passkey'), 'the requests were logged');
      for (const secret of secrets) assert.ok(!output.includes(secret), `the log holds ${secret.slice(0, 6)}…`);
    } finally {
      await app.close();
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
