// "Sign in with Latchkey" from the person's side (issue 9, part 6 item 4): the applications listed on /account with
// "Revoke", an administrator removing an application, max_age, and logout back to the application. A real relying
// party (openid-client) over HTTP against the running app, with a cookie-keeping browser without JavaScript.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestApp, GOOD_PASSWORD, type TestApp } from './support/app.ts';
import { textOf } from './support/client.ts';
import { APP_ORIGIN, Browser } from './support/oidc-browser.ts';
import { sleep } from './support/wait.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { assertAccessible } from './support/axe.ts';
import { launchBrowser, openSession } from './support/browser.ts';
import type { OidcTables } from '../src/modules/oidc/oidc.repo.ts';

const REDIRECT = `${APP_ORIGIN}/callback`;
const LOGGED_OUT = `${APP_ORIGIN}/logged-out`;


describe('Sign in with Latchkey: /account "Applications", removal, max_age, logout', () => {
  let app: TestApp;
  let issuer: URL;
  let userId: string;
  let wiki: { id: string; config: oidc.Configuration };
  let dashboard: { id: string; config: oidc.Configuration };

  before(async () => {
    app = await startTestApp();
    issuer = new URL(app.services.config.baseUrl.href.replace(/\/$/, ''));
    userId = (await app.createUser({ email: 'ada@example.com', name: 'Ada Lovelace' })).id;
    const created = await app.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [REDIRECT], postLogoutRedirectUris: [LOGGED_OUT], scopes: ['openid', 'profile', 'email', 'offline_access'] },
      COMMAND_LINE,
    );
    wiki = { id: created.application.id, config: await oidc.discovery(issuer, created.application.id, created.secret!, undefined, { execute: [oidc.allowInsecureRequests] }) };
    const outside = await app.services.applications.create(
      { name: 'Outside Dashboard', kind: 'public', firstParty: false, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'email'] },
      COMMAND_LINE,
    );
    dashboard = { id: outside.application.id, config: await oidc.discovery(issuer, outside.application.id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] }) };
  });
  after(() => app.close());

  async function authorizationUrl(cfg: oidc.Configuration, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: REDIRECT,
      scope: 'openid profile email offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      // OpenID Connect Core 11: offline_access is honoured only with prompt=consent.
      prompt: 'consent',
      ...extra,
    });
    return { url: url.toString(), verifier, state };
  }

  /** Signs in to an application (the login form if Latchkey asks, "Allow" if it asks) and exchanges the code. */
  async function signIn(browser: Browser, cfg: oidc.Configuration, extra: Record<string, string> = {}) {
    const request = await authorizationUrl(cfg, extra);
    let callback = await browser.go(request.url);
    if (!callback && /Log in/.test(textOf(browser.html))) callback = await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url);
    if (!callback && /wants to:/.test(textOf(browser.html))) callback = await browser.submit('/confirm', {}, app.url);
    assert.ok(callback, `back at the application (page: ${textOf(browser.html).slice(0, 300)})`);
    return oidc.authorizationCodeGrant(cfg, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state });
  }

  /** The /account page's "Applications" section, as text. */
  async function applicationsOnAccount(browser: Browser): Promise<string> {
    assert.equal(await browser.go(`${app.url}/account`), null);
    assert.equal(browser.status, 200);
    const section = /<h2>Applications<\/h2>([\s\S]*?)<\/div>/.exec(browser.html);
    assert.ok(section, 'an "Applications" heading on /account');
    return textOf(section[1]!);
  }

  /** Every row the provider still holds for an application (grants, codes, tokens). */
  async function storedFor(clientId: string): Promise<string[]> {
    const rows = await app.services.db.withTables<OidcTables>().selectFrom('oidc_models').select(['model', 'payload']).where('model', '!=', 'Session').execute();
    return rows.filter((row) => (JSON.parse(row.payload) as { clientId?: string }).clientId === clientId).map((row) => row.model);
  }

  test('with no application signed in to, "Applications" on /account says so', async () => {
    const browser = new Browser();
    assert.equal(await browser.go(`${app.url}/login`), null);
    await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url);
    assert.match(await applicationsOnAccount(browser), /You are not signed in to any application/);
  });

  test('after a sign-in the application is on /account with since when and the scopes it was granted', async () => {
    const browser = new Browser();
    await signIn(browser, wiki.config);
    const text = await applicationsOnAccount(browser);
    assert.match(text, /Wiki/);
    assert.match(text, /[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} UTC/, 'since when');
    for (const scope of ['openid', 'profile', 'email', 'offline_access']) assert.match(text, new RegExp(`\\b${scope}\\b`), `the ${scope} scope`);
    assert.match(text, /see your name/);
    assert.match(browser.html, /<button type="submit" class="secondary">Revoke<span class="visually-hidden"> Wiki<\/span><\/button>/);
    assert.doesNotMatch(text, /Outside Dashboard/, 'an application never signed in to is not listed');
  });

  test('in Chromium: "Applications" on /account passes axe, and "Revoke" leaves a notice and the sentence for none', async (t) => {
    await signIn(new Browser(), wiki.config);
    const chromium = await launchBrowser();
    t.after(() => chromium.close());
    const { page } = await openSession(chromium, t, { baseURL: app.url });
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill('ada@example.com');
    await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL('**/account');
    const section = page.locator('#applications');
    await section.getByRole('heading', { name: 'Applications', level: 2 }).waitFor();
    await section.getByRole('cell', { name: 'Wiki', exact: true }).waitFor();
    await assertAccessible(page, '/account with an application');
    await section.getByRole('button', { name: 'Revoke Wiki', exact: true }).click();
    await page.getByRole('status').getByText('Wiki can no longer use your account.', { exact: false }).waitFor();
    await section.getByText('You are not signed in to any application with your Latchkey account.').waitFor();
    await assertAccessible(page, '/account after "Revoke"');
  });

  test('"Revoke" ends that application\'s access: its refresh token fails, it leaves the list, audited; the other application keeps working', async () => {
    const browser = new Browser();
    const wikiTokens = await signIn(browser, wiki.config);
    const dashboardTokens = await signIn(browser, dashboard.config, { scope: 'openid email', prompt: 'consent' });
    const before = await applicationsOnAccount(browser);
    assert.match(before, /Wiki/);
    assert.match(before, /Outside Dashboard/);

    // A form post without the page's CSRF token changes nothing.
    const forged = await fetch(`${app.url}/account/applications/revoke`, {
      method: 'POST',
      headers: { cookie: [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ application: wiki.id }),
      redirect: 'manual',
    });
    assert.equal(forged.status, 403);
    assert.equal((await oidc.tokenIntrospection(wiki.config, wikiTokens.access_token)).active, true);

    assert.equal(await browser.submit('/account/applications/revoke', {}, app.url, `value="${wiki.id}"`), null);
    assert.equal(browser.status, 200);
    assert.match(textOf(browser.html), /Wiki can no longer use your account/);
    await assert.rejects(oidc.refreshTokenGrant(wiki.config, wikiTokens.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant');
    assert.equal((await oidc.tokenIntrospection(wiki.config, wikiTokens.access_token)).active, false);
    assert.deepEqual(await storedFor(wiki.id), [], "no grant, code or token of Wiki's is left");
    const after = await applicationsOnAccount(browser);
    assert.doesNotMatch(after, /Wiki/);
    assert.match(after, /Outside Dashboard/);
    assert.equal((await oidc.tokenIntrospection(dashboard.config, dashboardTokens.access_token)).active, true, 'only Wiki lost its access');

    const { rows } = await app.services.audit.list({ type: 'oidc.revoked', userId, limit: 10 });
    const detail = JSON.parse(rows[0]!.detail!) as Record<string, unknown>;
    assert.equal(detail.reason, 'user');
    assert.equal(detail.clientId, wiki.id);
    assert.equal(rows[0]!.user_id, userId);
  });

  test('after "Revoke" the still-live Latchkey session signs nobody in to that application: its next sign-in asks for the password, in every browser, and a third-party one asks for consent again', async () => {
    // Ada signs in to both applications in one browser, and is logged in to Latchkey in another.
    const browser = new Browser();
    await signIn(browser, wiki.config);
    await signIn(browser, dashboard.config, { scope: 'openid email' });
    const other = new Browser();
    assert.equal(await other.go(`${app.url}/login`), null);
    assert.equal(await other.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url), null);

    // Revoke the first-party Wiki: no provider session stays bound to it.
    await applicationsOnAccount(browser);
    assert.equal(await browser.submit('/account/applications/revoke', {}, app.url, `value="${wiki.id}"`), null);
    const sessions = await app.services.db.withTables<OidcTables>().selectFrom('oidc_models').select('payload').where('model', '=', 'Session').where('account_id', '=', userId).execute();
    assert.ok(sessions.length > 0);
    for (const session of sessions) assert.equal((JSON.parse(session.payload) as { authorizations?: Record<string, unknown> }).authorizations?.[wiki.id], undefined);

    // Wiki asks again, in either browser: the password, although the Latchkey sessions still live.
    for (const [name, b] of [['the same browser', browser], ['another browser', other]] as const) {
      const request = await authorizationUrl(wiki.config);
      assert.equal(await b.go(request.url), null, `${name}: no silent sign-in to Wiki`);
      assert.match(textOf(b.html), /Log in to continue to Wiki/, name);
    }
    // The other application is not touched.
    assert.ok(await browser.go((await authorizationUrl(dashboard.config, { scope: 'openid email', prompt: 'none' })).url), 'Outside Dashboard still signs in silently');
    // Once the password is entered, Wiki signs in as before, and the next time silently again.
    const tokens = await signIn(browser, wiki.config);
    assert.equal((await oidc.tokenIntrospection(wiki.config, tokens.access_token)).active, true);
    assert.ok(await browser.go((await authorizationUrl(wiki.config)).url), 'silent again after the password');
    assert.ok(await other.go((await authorizationUrl(wiki.config)).url), 'in the other browser too');

    // Revoke the third-party Outside Dashboard: the password, then its consent screen again.
    await applicationsOnAccount(browser);
    assert.equal(await browser.submit('/account/applications/revoke', {}, app.url, `value="${dashboard.id}"`), null);
    const request = await authorizationUrl(dashboard.config, { scope: 'openid email', prompt: '' });
    assert.equal(await browser.go(request.url), null);
    assert.match(textOf(browser.html), /Log in to continue to Outside Dashboard/);
    assert.equal(await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url), null);
    assert.match(textOf(browser.html), /Outside Dashboard wants to:/);
    const callback = await browser.submit('/confirm', {}, app.url);
    assert.ok(callback);
    await oidc.authorizationCodeGrant(dashboard.config, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state });
  });

  test('max_age=0 and prompt=login ask for the password even when the Latchkey session began in the same second', async () => {
    /** Runs the steps again until they all happened within one second of the clock (a slow machine may cross one). */
    async function withinOneSecond(steps: () => Promise<void>): Promise<void> {
      for (let attempt = 0; ; attempt++) {
        await sleep(1000 - (Date.now() % 1000) + 5);
        const second = Math.floor(Date.now() / 1000);
        await steps();
        if (Math.floor(Date.now() / 1000) === second) return;
        assert.ok(attempt < 5, 'the steps fit in one second');
      }
    }
    const asks: Array<Record<string, string>> = [{ max_age: '0' }, { prompt: 'login' }];
    for (const extra of asks) {
      const what = JSON.stringify(extra);
      // Logged in to Latchkey (not yet to any application), then at once an application asks.
      await withinOneSecond(async () => {
        const browser = new Browser();
        assert.equal(await browser.go(`${app.url}/login`), null);
        assert.equal(await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url), null);
        assert.equal(await browser.go((await authorizationUrl(wiki.config, extra)).url), null, `${what}: no silent sign-in`);
        assert.match(textOf(browser.html), /Log in to continue to Wiki/);
      });
      // Signed in to an application a moment ago, in the same second.
      await withinOneSecond(async () => {
        const browser = new Browser();
        await signIn(browser, wiki.config);
        assert.equal(await browser.go((await authorizationUrl(wiki.config, extra)).url), null, `${what} after a sign-in: no silent sign-in`);
        assert.match(textOf(browser.html), /Log in to continue to Wiki/);
      });
    }
  });

  test('removing an application ends every grant and token it held, audited', async () => {
    const created = await app.services.applications.create(
      { name: 'Tracker', kind: 'confidential', firstParty: true, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'email', 'offline_access'] },
      COMMAND_LINE,
    );
    const tracker = await oidc.discovery(issuer, created.application.id, created.secret!, undefined, { execute: [oidc.allowInsecureRequests] });
    const browser = new Browser();
    const tokens = await signIn(browser, tracker, { scope: 'openid email offline_access' });
    assert.equal((await oidc.tokenIntrospection(tracker, tokens.access_token)).active, true);
    assert.match(await applicationsOnAccount(browser), /Tracker/);
    assert.deepEqual((await storedFor(created.application.id)).sort(), ['AccessToken', 'AuthorizationCode', 'Grant', 'RefreshToken']);

    await app.services.applications.remove(created.application.id, COMMAND_LINE);
    assert.deepEqual(await storedFor(created.application.id), [], 'grant, code, access and refresh tokens are gone');
    await assert.rejects(oidc.refreshTokenGrant(tracker, tokens.refresh_token!));
    assert.doesNotMatch(await applicationsOnAccount(browser), /Tracker/);
    const { rows } = await app.services.audit.list({ type: 'oidc.revoked', limit: 10 });
    const detail = JSON.parse(rows[0]!.detail!) as Record<string, unknown>;
    assert.deepEqual(detail, { application: 'Tracker', clientId: created.application.id, grants: 1, users: 1, reason: 'application removed' });
  });

  test('max_age: a sign-in older than it asks for the password again; a younger one does not', async () => {
    const browser = new Browser();
    await signIn(browser, wiki.config);
    let lastLogin = Math.floor(Date.now() / 1000);
    // Within the hour: straight back to the application.
    const recent = await authorizationUrl(wiki.config, { max_age: '3600' });
    assert.ok(await browser.go(recent.url), 'no form while the sign-in is younger than max_age');
    // The provider counts whole seconds: max_age=0 wants a fresh password once a second has passed, max_age=1
    // once two have.
    for (const [maxAge, wait] of [['0', 1100], ['1', 2100]] as const) {
      await sleep(wait);
      const request = await authorizationUrl(wiki.config, { max_age: maxAge });
      assert.equal(await browser.go(request.url), null, `max_age=${maxAge}: no silent sign-in`);
      assert.match(textOf(browser.html), /Log in to continue to Wiki/);
      const callback = await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url);
      assert.ok(callback);
      const tokens = await oidc.authorizationCodeGrant(wiki.config, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, maxAge: Number(maxAge) });
      const authTime = tokens.claims()!.auth_time!;
      assert.ok(authTime > lastLogin, `auth_time ${authTime} is the new login, after ${lastLogin}`);
      lastLogin = authTime;
    }
  });

  test('logout started by the application with its registered post-logout URI: after "Log out" the browser lands there, with the state', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser, wiki.config);
    const state = oidc.randomState();
    const endUrl = oidc.buildEndSessionUrl(wiki.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT, state });
    assert.equal(await browser.go(endUrl.toString()), null);
    assert.match(textOf(browser.html), /Wiki asks to log you out/);
    const landed = await browser.submit('/oidc/session/end/confirm', { logout: 'yes' }, app.url);
    assert.ok(landed, `sent back to the application (page: ${textOf(browser.html).slice(0, 200)})`);
    const url = new URL(landed);
    assert.equal(`${url.origin}${url.pathname}`, LOGGED_OUT);
    assert.equal(url.searchParams.get('state'), state);
    assert.equal(await browser.go(`${app.url}/account`), null);
    assert.match(textOf(browser.html), /Log in/, 'the Latchkey session has ended');
  });
});
