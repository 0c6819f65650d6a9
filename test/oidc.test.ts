// "Sign in with Latchkey" (issue 9, part 6): a real relying party (openid-client) over HTTP against the running
// app, with a cookie-keeping browser that fills in Latchkey's own login and consent pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestApp, GOOD_PASSWORD, type TestApp } from './support/app.ts';
import { textOf } from './support/client.ts';
import { APP_ORIGIN, Browser } from './support/oidc-browser.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { loadSecret } from '../src/infra/secret.ts';
import { signingKeysOf } from '../src/modules/oidc/oidc.routes.ts';

const REDIRECT = `${APP_ORIGIN}/callback`;

describe('Sign in with Latchkey (OpenID Connect)', () => {
  let app: TestApp;
  let issuer: URL;
  let confidential: { id: string; secret: string };
  let thirdParty: string;
  let config: oidc.Configuration;

  before(async () => {
    app = await startTestApp();
    issuer = new URL(app.services.config.baseUrl.href.replace(/\/$/, ''));
    await app.createUser({ email: 'ada@example.com', name: 'Ada Lovelace' });
    const created = await app.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email', 'offline_access'] },
      COMMAND_LINE,
    );
    confidential = { id: created.application.id, secret: created.secret! };
    const outside = await app.services.applications.create(
      { name: 'Outside Dashboard', kind: 'public', firstParty: false, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email'] },
      COMMAND_LINE,
    );
    thirdParty = outside.application.id;
    config = await oidc.discovery(issuer, confidential.id, confidential.secret, undefined, { execute: [oidc.allowInsecureRequests] });
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

  async function signIn(browser: Browser, cfg = config, extra: Record<string, string> = {}, password = GOOD_PASSWORD) {
    const request = await authorizationUrl(cfg, extra);
    let callback = await browser.go(request.url);
    if (!callback && /Log in/.test(browser.html)) {
      callback = await browser.submit('/login', { email: 'ada@example.com', password }, app.url);
    }
    assert.ok(callback, `back at the application (page: ${textOf(browser.html).slice(0, 300)})`);
    return { callback: new URL(callback), ...request };
  }

  test('discovery and JWKS carry the required fields; PKCE is S256 only', async () => {
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer.href.replace(/\/$/, ''));
    for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'response_types_supported', 'subject_types_supported', 'id_token_signing_alg_values_supported'] as const) {
      assert.ok(meta[field], `${field} is published`);
    }
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    // A secret in the header (Grafana) or in the body (Nextcloud's user_oidc), or PKCE alone: nothing else is offered.
    assert.deepEqual([...(meta.token_endpoint_auth_methods_supported as string[])].sort(), ['client_secret_basic', 'client_secret_post', 'none']);
    assert.ok(meta.authorization_endpoint!.endsWith('/oidc/auth'));
    assert.ok(meta.token_endpoint!.endsWith('/oidc/token'));
    assert.ok(meta.userinfo_endpoint!.endsWith('/oidc/me'));
    assert.ok(meta.revocation_endpoint!.endsWith('/oidc/token/revocation'));
    assert.ok(meta.introspection_endpoint!.endsWith('/oidc/token/introspection'));
    assert.ok(meta.end_session_endpoint!.endsWith('/oidc/session/end'));
    const jwks = (await (await fetch(`${app.url}/oidc/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    assert.ok(jwks.keys.length >= 1);
    for (const key of jwks.keys) {
      assert.ok(key.kty && key.kid && key.alg, 'each key has kty, kid, alg');
      assert.equal(key.d, undefined, 'no private part is published');
    }
  });

  test('authorization code with PKCE: login form, code, tokens, a valid ID token, userinfo', async () => {
    const browser = new Browser();
    const { callback, verifier, state } = await signIn(browser);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims()!;
    const user = await app.services.users.findByTypedEmail('ada@example.com');
    assert.equal(claims.sub, user!.id, 'sub is the user id, not the email');
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, 'ada@example.com');
    assert.equal(info.email_verified, false);
    assert.equal(info.name, 'Ada Lovelace');
    assert.equal(info.latchkey_admin, undefined, 'latchkey_admin only with its scope');
    // Already logged in to Latchkey: the next sign-in goes straight back to the application.
    const again = await authorizationUrl(config);
    assert.ok(await browser.go(again.url), 'no form the second time');
    // Audited.
    for (let i = 0; i < 50; i++) {
      const { rows } = await app.services.audit.list({ type: 'oidc.signed_in', limit: 10 });
      if (rows.length >= 2) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail('oidc.signed_in is in the audit log');
  });

  test('a confidential application may send its secret in the body (client_secret_post), as Nextcloud\'s user_oidc does', async () => {
    const { callback, verifier, state } = await signIn(new Browser());
    const inBody = await oidc.discovery(issuer, confidential.id, undefined, oidc.ClientSecretPost(confidential.secret), { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.authorizationCodeGrant(inBody, callback, { pkceCodeVerifier: verifier, expectedState: state });
    assert.ok(tokens.access_token);
    const wrong = await oidc.discovery(issuer, confidential.id, undefined, oidc.ClientSecretPost('not-the-secret'), { execute: [oidc.allowInsecureRequests] });
    await assert.rejects(oidc.refreshTokenGrant(wrong, tokens.refresh_token!), (error: { cause?: { error?: string } }) => error.cause?.error === 'invalid_client', 'a wrong secret in the body is refused');
  });

  test('refresh tokens rotate: the old one is refused after use, and its reuse ends the grant', async () => {
    const { callback, verifier, state } = await signIn(new Browser());
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, true);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant');
    // A rotated token shown again means it was copied: the provider ends the whole grant, the new tokens too.
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant');
    assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false);
  });

  test('revocation and introspection', async () => {
    const { callback, verifier, state } = await signIn(new Browser());
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(introspected.active, true);
    assert.equal(introspected.client_id, confidential.id);
    assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, true);
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, false);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant');
  });

  test('errors: wrong redirect URI, missing or wrong PKCE verifier, reused code', async () => {
    const browser = new Browser();
    const wrong = await authorizationUrl(config, { redirect_uri: 'http://127.0.0.1:9/elsewhere' });
    assert.equal(await browser.go(wrong.url), null);
    assert.equal(browser.status, 400);
    assert.match(textOf(browser.html), /Sign-in failed/);
    assert.match(textOf(browser.html), /redirect_uri/);
    assert.doesNotMatch(browser.html, /at .*\.js:\d+/, 'no stack trace');

    const noPkce = new URL((await authorizationUrl(config)).url);
    noPkce.searchParams.delete('code_challenge');
    noPkce.searchParams.delete('code_challenge_method');
    const refused = await browser.go(noPkce.toString());
    assert.ok(refused);
    assert.equal(new URL(refused).searchParams.get('error'), 'invalid_request');

    const first = await signIn(browser);
    await assert.rejects(
      oidc.authorizationCodeGrant(config, first.callback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: first.state }),
      (error: oidc.ResponseBodyError) => error.error === 'invalid_grant',
    );
    const second = await signIn(browser);
    await oidc.authorizationCodeGrant(config, second.callback, { pkceCodeVerifier: second.verifier, expectedState: second.state });
    await assert.rejects(
      oidc.authorizationCodeGrant(config, second.callback, { pkceCodeVerifier: second.verifier, expectedState: second.state }),
      (error: oidc.ResponseBodyError) => error.error === 'invalid_grant',
    );
  });

  test('prompt=login shows the login form even when logged in to Latchkey', async () => {
    const browser = new Browser();
    await signIn(browser);
    const forced = await authorizationUrl(config, { prompt: 'login' });
    assert.equal(await browser.go(forced.url), null);
    // The form's answer redirects to the application: the page's form-action allows its origin.
    assert.match(browser.csp, /form-action 'self' http:\/\/127\.0\.0\.1:9(;|$)/);
    assert.match(textOf(browser.html), /Log in/);
    assert.match(browser.html, /Reset Password/);
    const callback = await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url);
    assert.ok(callback);
  });

  test('logging out of Latchkey: the next sign-in to an application asks for the password again', async () => {
    const browser = new Browser();
    await signIn(browser);
    assert.equal(await browser.go(`${app.url}/account`), null);
    await browser.submit('/logout', {}, app.url);
    const next = await authorizationUrl(config);
    assert.equal(await browser.go(next.url), null, 'no silent sign-in');
    assert.match(textOf(browser.html), /Log in to continue to Wiki/);
  });

  test('logout started by the application: Latchkey\'s confirmation page; "Log out" ends the Latchkey session too', async () => {
    const browser = new Browser();
    const { callback, verifier, state } = await signIn(browser);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const endUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! });
    assert.equal(await browser.go(endUrl.toString()), null);
    assert.equal(browser.status, 200);
    assert.match(textOf(browser.html), /Wiki asks to log you out/);
    assert.match(browser.html, /latchkey\.css/, "Latchkey's layout");
    assert.equal(await browser.submit('/oidc/session/end/confirm', { logout: 'yes' }, app.url), null);
    assert.match(textOf(browser.html), /Logged out/);
    assert.equal(await browser.go(`${app.url}/account`), null);
    assert.match(textOf(browser.html), /Log in/, 'the Latchkey session has ended');
  });

  test('a third-party application asks for consent; "Allow" is audited', async () => {
    const publicConfig = await oidc.discovery(issuer, thirdParty, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const browser = new Browser();
    const request = await authorizationUrl(publicConfig, { scope: 'openid profile email' });
    assert.equal(await browser.go(request.url), null);
    assert.equal(await browser.submit('/login', { email: 'ada@example.com', password: GOOD_PASSWORD }, app.url), null);
    const text = textOf(browser.html);
    assert.match(text, /Outside Dashboard wants to:/);
    assert.match(text, /see your name/);
    assert.match(text, /see your email address/);
    const callback = await browser.submit('/confirm', {}, app.url);
    assert.ok(callback);
    const tokens = await oidc.authorizationCodeGrant(publicConfig, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    assert.ok(tokens.access_token);
    // Another application cannot read whom this token belongs to, nor revoke it.
    assert.equal((await oidc.tokenIntrospection(config, tokens.access_token)).active, false);
    await assert.rejects(oidc.tokenRevocation(config, tokens.access_token), (error: oidc.ResponseBodyError) => error.error === 'invalid_request');
    assert.equal((await oidc.tokenIntrospection(publicConfig, tokens.access_token)).active, true);
    const { rows } = await app.services.audit.list({ type: 'oidc.consent_given', limit: 10 });
    assert.equal(rows.length, 1);
  });

  test('keys rotate: the new key is published at once, the old one keeps signing a while and stays published', async () => {
    const keys = signingKeysOf(app.services, loadSecret(app.services.config.secret, app.services.config.dataDir));
    const before = await keys.load();
    const { kid, retired } = await keys.rotate(COMMAND_LINE);
    assert.deepEqual(retired, [before.signingKid]);
    const after = await keys.load();
    assert.equal(after.signingKid, before.signingKid, 'the old key signs until every instance publishes the new one');
    assert.deepEqual(after.keys.map((key) => key.kid).sort(), [before.signingKid, kid].sort());
    const { rows } = await app.services.audit.list({ type: 'oidc.key_rotated', limit: 10 });
    assert.equal(rows.length, 1);
  });

  test('sessions ended in Latchkey end in every application: refresh tokens stop, audited', async () => {
    const user = (await app.services.users.findByTypedEmail('ada@example.com'))!;
    const endings: Array<[string, () => Promise<unknown>]> = [
      ['Log out other sessions', async () => {
        const [session] = await app.services.sessions.list(user.id);
        return app.services.sessions.endOthers(user, session!, COMMAND_LINE);
      }],
      ['End all sessions', () => app.services.sessions.endAllByAdministrator(user, COMMAND_LINE)],
      ['a password change', () => app.services.passwords.setByAdministrator(user, GOOD_PASSWORD + '!x', GOOD_PASSWORD + '!x', COMMAND_LINE)],
    ];
    for (const [what, end] of endings) {
      const { callback, verifier, state } = await signIn(new Browser(), config, {}, what === 'a password change' ? GOOD_PASSWORD : undefined);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      await end();
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant', `${what}: refresh refused`);
      assert.equal((await oidc.tokenIntrospection(config, tokens.access_token)).active, false, `${what}: access token inactive`);
    }
    const { rows } = await app.services.audit.list({ type: 'oidc.revoked', userId: user.id, limit: 10 });
    assert.ok(rows.length >= 3, 'each ending is audited');
  });

  test('an archived user: refresh and userinfo stop working', async () => {
    const user = await app.createUser({ email: 'bob@example.com', name: 'Bob Byte' });
    const browser = new Browser();
    const request = await authorizationUrl(config);
    await browser.go(request.url);
    const callback = await browser.submit('/login', { email: 'bob@example.com', password: GOOD_PASSWORD }, app.url);
    assert.ok(callback);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    await app.services.users.archive(user.id, COMMAND_LINE);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (error: oidc.ResponseBodyError) => error.error === 'invalid_grant');
    await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, user.id));
    const { rows } = await app.services.audit.list({ type: 'oidc.revoked', userId: user.id, limit: 10 });
    assert.equal(JSON.parse(rows[0]!.detail!).reason, 'archived');
  });
});

describe('Sign in with Latchkey: a forgotten password during sign-in', () => {
  let smtp: TestSmtpServer;
  let app: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    app = await startTestApp({ smtpUrl: smtp.url });
  });
  after(async () => {
    await app.close();
    await smtp.close();
  });

  test('"Reset Password" on the sign-in form, the emailed link, a new password: back in the application, signed in', async () => {
    const user = await app.createUser({ email: 'grace@example.com', name: 'Grace Hopper' });
    const created = await app.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email'] },
      COMMAND_LINE,
    );
    const issuer = new URL(app.services.config.baseUrl.href.replace(/\/$/, ''));
    const config = await oidc.discovery(issuer, created.application.id, created.secret!, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const browser = new Browser();
    assert.equal(await browser.go(url.toString()), null);
    const reset = /href="([^"]*reset-password[^"]*)"/.exec(browser.html)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(reset?.includes('next='), 'the Reset Password link carries the way back');
    await browser.go(new URL(reset!, app.url).toString());
    assert.equal(await browser.submit('/reset-password', { email: 'grace@example.com' }, app.url), null);
    assert.match(textOf(browser.html), /Check your email/);
    const mail = await smtp.waitForMail((m) => m.to.includes('grace@example.com'));
    assert.equal(await browser.go(resetLinkIn(mail)), null);
    assert.equal(await browser.submit('/reset-password/new', { password: 'Quiet-Lantern-77', confirmation: 'Quiet-Lantern-77' }, app.url), null);
    // Not a redirect (the form's CSP form-action would block the application's address): a page that goes on by itself.
    const onward = /href="([^"]*)">Continue signing in</.exec(browser.html)?.[1];
    assert.ok(onward?.startsWith('/oidc/interaction/'), `"Continue signing in" (page: ${textOf(browser.html).slice(0, 200)})`);
    const callback = await browser.go(new URL(onward!, app.url).toString());
    assert.ok(callback, `back at the application (page: ${textOf(browser.html).slice(0, 200)})`);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(tokens.claims()!.sub, user.id);
  });
});
