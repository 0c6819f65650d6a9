// A small application that signs people in with Latchkey over OpenID Connect (openid-client, node:http only).
// Run it with: LATCHKEY_ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… PORT=4000 node examples/sign-in-app/server.mjs
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000');
const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET;
const port = Number(process.env.PORT ?? 4000);
const appUrl = new URL(process.env.APP_URL ?? `http://127.0.0.1:${port}`);
if (!clientId || !clientSecret) {
  console.error('Set CLIENT_ID and CLIENT_SECRET (from `npx latchkey apps add`), and LATCHKEY_ISSUER.');
  process.exit(1);
}
const redirectUri = new URL('/callback', appUrl).href;
const afterLogout = new URL('/', appUrl).href;

// Plain http only for a Latchkey on this machine; anywhere else the issuer must be https.
const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
let discovered = null;
function configuration() {
  discovered ??= oidc.discovery(issuer, clientId, clientSecret, undefined, loopback ? { execute: [oidc.allowInsecureRequests] } : {});
  return discovered.catch((error) => {
    discovered = null;
    throw error;
  });
}

// Sessions live in this process: the browser holds only a random id, never a token.
const sessions = new Map();
const COOKIE = 'sign_in_app';
function sessionOf(req, res) {
  const id = /(?:^|;\s*)sign_in_app=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1];
  if (id && sessions.has(id)) return sessions.get(id);
  const fresh = randomBytes(32).toString('base64url');
  sessions.set(fresh, {});
  res.setHeader('set-cookie', `${COOKIE}=${fresh}; Path=/; HttpOnly; SameSite=Lax${appUrl.protocol === 'https:' ? '; Secure' : ''}`);
  return sessions.get(fresh);
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(res, body) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; form-action 'self' " + issuer.origin });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in example</title></head><body><main><h1>Sign-in example</h1>${body}</main></body></html>`);
}
const redirect = (res, location) => res.writeHead(303, { location }).end();
const button = (action, label) => `<form method="post" action="${action}"><button type="submit">${label}</button></form>`;

function forget(session, notice) {
  for (const key of Object.keys(session)) delete session[key];
  session.notice = notice;
}

async function signedIn(session, tokens) {
  const config = await configuration();
  const claims = tokens.claims() ?? session.claims;
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  Object.assign(session, { tokens, claims, user: { name: info.name, email: info.email }, notice: null });
}

async function handle(req, res) {
  const url = new URL(req.url, appUrl);
  const session = sessionOf(req, res);
  const route = `${req.method} ${url.pathname}`;

  if (route === 'GET /') {
    const notice = session.notice ? `<p role="status">${escape(session.notice)}</p>` : '';
    if (!session.user) return page(res, `${notice}<p><a href="/login">Sign in with Latchkey</a></p>`);
    return page(res, `${notice}<p>Signed in as ${escape(session.user.name)} (${escape(session.user.email)})</p>${button('/refresh', 'Refresh')}${button('/logout', 'Sign out')}`);
  }

  if (route === 'GET /login') {
    const config = await configuration();
    // PKCE (S256), state and nonce, kept in this browser's session until the callback.
    const verifier = oidc.randomPKCECodeVerifier();
    session.pending = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
    const target = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      // offline_access asks for a refresh token; OpenID Connect honours it only with prompt=consent.
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: session.pending.state,
      nonce: session.pending.nonce,
    });
    return redirect(res, target.href);
  }

  if (route === 'GET /callback') {
    const pending = session.pending;
    session.pending = null;
    if (!pending) return redirect(res, '/');
    const config = await configuration();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce });
      await signedIn(session, tokens);
    } catch (error) {
      session.notice = `Sign-in failed: ${error.error_description ?? error.error ?? error.message}`;
    }
    return redirect(res, '/');
  }

  if (route === 'POST /refresh' && session.tokens) {
    const config = await configuration();
    try {
      await signedIn(session, await oidc.refreshTokenGrant(config, session.tokens.refresh_token));
      session.notice = `Refreshed at ${new Date().toISOString()}`;
    } catch (error) {
      if (!(error instanceof oidc.ResponseBodyError)) throw error;
      // Latchkey refused the refresh token: the session ended there (a password change, "End all sessions", …).
      forget(session, `Signed out: ${error.error_description ?? error.error}`);
    }
    return redirect(res, '/');
  }

  if (route === 'POST /logout') {
    const idToken = session.tokens?.id_token;
    forget(session, 'Signed out.');
    if (!idToken) return redirect(res, '/');
    const config = await configuration();
    return redirect(res, oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: afterLogout }).href);
  }

  res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('Latchkey could not be reached or answered unexpectedly.');
  });
});
server.listen(port, process.env.HOST ?? '127.0.0.1', () => console.log(`Sign-in example at ${appUrl.origin} (issuer ${issuer.href})`));
