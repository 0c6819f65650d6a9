// Bad and hostile input over HTTP against the real app: every refusal is a calm page with the right status, never a 500, and secrets stay out of cookies' reach and out of the log.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../src/infra/clock.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient, type Page } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NEW_PASSWORD = 'Quiet-Lantern-77';

/** A refusal is an HTML page with a message, not a framework's JSON or a stack trace. */
function assertCalmPage(page: Page, status: number | ((status: number) => boolean), message?: RegExp): void {
  if (typeof status === 'number') assert.equal(page.status, status, `status ${page.status}: ${textOf(page.html).slice(0, 300)}`);
  else assert.ok(status(page.status), `unexpected status ${page.status}: ${textOf(page.html).slice(0, 300)}`);
  assert.notEqual(page.status, 500);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.html, /^<!doctype html>/i);
  assert.doesNotMatch(page.html, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  if (message) assert.match(textOf(page.html), message);
}

const is4xx = (status: number) => status >= 400 && status < 500;

/** The Set-Cookie lines of a response, by cookie name. */
function setCookies(headers: Headers): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const line of headers.getSetCookie()) cookies.set(line.slice(0, line.indexOf('=')), line);
  return cookies;
}

/** Posts a form without following the redirect, to see the response's own headers. */
async function postRaw(client: WebClient, pathname: string, fields: Record<string, string>): Promise<Response> {
  return fetch(new URL(pathname, client.base), {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams({ _csrf: client.csrfToken(), ...fields }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
    },
  });
}

async function logIn(lk: TestApp, email: string, password = GOOD_PASSWORD): Promise<WebClient> {
  const client = new WebClient(lk.url);
  await client.get('/login');
  const page = await client.post('/login', { email, password });
  assert.ok(page.url.endsWith('/account'), `logged in as ${email}: landed on ${page.url}`);
  return client;
}

async function countRows(lk: TestApp, table: 'mail_messages' | 'reset_links'): Promise<number> {
  const row = await lk.services.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('bad input over HTTP', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp();
    await lk.createUser({ email: 'victim@example.com', name: 'Vic Tim' });
  });
  after(async () => {
    await lk.close();
  });

  it('a POST without a CSRF token gets a 403 page that says the form expired, not a 500', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const withCookieOnly = await client.request('POST', '/login', new URLSearchParams({ email: 'victim@example.com', password: GOOD_PASSWORD }));
    assertCalmPage(withCookieOnly, 403, /This form has expired or did not come from Latchkey/);

    const stranger = new WebClient(lk.url);
    const noCookieNoToken = await stranger.request('POST', '/reset-password', new URLSearchParams({ email: 'victim@example.com' }));
    assertCalmPage(noCookieNoToken, 403, /This form has expired or did not come from Latchkey/);

    const forged = await client.request('POST', '/login', new URLSearchParams({ _csrf: 'forged-token', email: 'victim@example.com', password: GOOD_PASSWORD }));
    assertCalmPage(forged, 403, /This form has expired/);
    assert.equal((await client.get('/account')).url.includes('/login'), true, 'no session was started');
  });

  it('a form body over 16 KB gets a 413 page', async () => {
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    const page = await client.post('/reset-password', { email: 'a'.repeat(17 * 1024) + '@example.com' });
    assertCalmPage(page, 413, /more data than Latchkey accepts/);
  });

  it('a JSON body sent to /login gets a 4xx page, never a 500', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const json = { 'content-type': 'application/json' };
    const noToken = await client.request('POST', '/login', JSON.stringify({ email: 'victim@example.com', password: GOOD_PASSWORD }), json);
    assertCalmPage(noToken, is4xx);
    const malformed = await client.request('POST', '/login', '{"email": "victim@', json);
    assertCalmPage(malformed, is4xx);
    const notAnObject = await client.request('POST', '/login', '["victim@example.com"]', json);
    assertCalmPage(notAnObject, is4xx);
    const withToken = await client.request('POST', '/login', JSON.stringify({ _csrf: client.csrfToken(), email: 'victim@example.com', password: 'Wrong-Guess-123!' }), json);
    assertCalmPage(withToken, is4xx);
  });

  it('a body of an unsupported type gets a 415 page, and a plain-text body a 4xx page', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const xml = await client.request('POST', '/login', '<login><email>victim@example.com</email></login>', { 'content-type': 'application/xml' });
    assertCalmPage(xml, 415, /only accepts ordinary HTML form posts/);
    const text = await client.request('POST', '/login', 'email=victim@example.com', { 'content-type': 'text/plain' });
    assertCalmPage(text, is4xx);
  });

  it('an email with CR/LF in the reset form gets a 400 with a message, and nothing is queued', async () => {
    const mailsBefore = await countRows(lk, 'mail_messages');
    const linksBefore = await countRows(lk, 'reset_links');
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    const page = await client.post('/reset-password', { email: 'victim@example.com\r\nBcc: attacker@evil.test' });
    assertCalmPage(page, 400, /An email address cannot contain line breaks/);
    assert.match(page.html, /<label for="email">Email<\/label>/, 'the form is shown again');
    assert.equal(await countRows(lk, 'mail_messages'), mailsBefore, 'no mail queued');
    assert.equal(await countRows(lk, 'reset_links'), linksBefore, 'no link issued');
  });

  it('a look-alike email with a Cyrillic letter in the reset form gets a 400, and nothing is queued', async () => {
    const mailsBefore = await countRows(lk, 'mail_messages');
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    // "viсtim" with CYRILLIC SMALL LETTER ES (U+0441) in place of the Latin "c".
    const page = await client.post('/reset-password', { email: 'vi\u0441tim@example.com' });
    assertCalmPage(page, 400, /plain letters/);
    assert.equal(await countRows(lk, 'mail_messages'), mailsBefore, 'no mail queued');
  });

  it('a field sent twice is handled as a bad value, never a 500', async () => {
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    const token = client.csrfToken();
    const twiceEmail = new URLSearchParams([
      ['_csrf', token],
      ['email', 'victim@example.com'],
      ['email', 'attacker@evil.test'],
    ]);
    assertCalmPage(await client.request('POST', '/reset-password', twiceEmail), is4xx);

    await client.get('/login');
    const twiceLogin = new URLSearchParams([
      ['_csrf', client.csrfToken()],
      ['email', 'victim@example.com'],
      ['email', 'victim@example.com'],
      ['password', GOOD_PASSWORD],
      ['password', GOOD_PASSWORD],
    ]);
    assertCalmPage(await client.request('POST', '/login', twiceLogin), is4xx);

    await client.get('/login');
    const twiceToken = new URLSearchParams([
      ['_csrf', client.csrfToken()],
      ['_csrf', client.csrfToken()],
      ['email', 'victim@example.com'],
      ['password', GOOD_PASSWORD],
    ]);
    const page = await client.request('POST', '/login', twiceToken);
    assert.notEqual(page.status, 500, textOf(page.html).slice(0, 300));
    assert.ok(is4xx(page.status) || page.url.endsWith('/account'), `handled: ${page.status} ${page.url}`);
  });

  it('a 10,000-character password on /login is refused with a 4xx page, quickly', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const started = Date.now();
    const page = await client.post('/login', { email: 'victim@example.com', password: 'A1!a'.repeat(2500) });
    assertCalmPage(page, is4xx);
    assert.ok(Date.now() - started < 5000, 'answered without hashing for long');
  });

  it('a 5,000-character token in the reset link gets a 404 page that says the link is not valid', async () => {
    const page = await new WebClient(lk.url).get('/reset-password/' + 'A'.repeat(5000));
    assertCalmPage(page, 404, /This link is not valid/);
    assert.match(page.html, /href="\/reset-password"/, 'offers a new link');
    assert.equal(page.headers.get('x-frame-options'), 'DENY', 'with the security headers');
  });

  it('a reset link with broken percent-encoding gets a 4xx page, not a bare JSON error', async () => {
    const page = await new WebClient(lk.url).get('/reset-password/%E0%A4%A');
    assertCalmPage(page, is4xx);
    assert.equal(page.headers.get('x-frame-options'), 'DENY', 'with the security headers');
  });

  it('every page carries the security headers, error pages too', async () => {
    for (const pathname of ['/login', '/reset-password', '/no-such-page']) {
      const response = await fetch(new URL(pathname, lk.url));
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, `${pathname}: content-security-policy`);
      assert.match(csp, /frame-ancestors 'none'/, `${pathname}: no framing in the CSP`);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', `${pathname}: x-frame-options`);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${pathname}: referrer-policy`);
      assert.equal(response.headers.get('cache-control'), 'no-store', `${pathname}: cache-control`);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${pathname}: x-content-type-options`);
      await response.arrayBuffer();
    }
  });

  it('over http, the CSRF and session cookies are HttpOnly and SameSite=Lax', async () => {
    const client = new WebClient(lk.url);
    const loginPage = await client.get('/login');
    const csrfCookie = setCookies(loginPage.headers).get('latchkey_csrf');
    assert.ok(csrfCookie, 'the login page sets the CSRF cookie');
    assert.match(csrfCookie, /;\s*HttpOnly/i);
    assert.match(csrfCookie, /;\s*SameSite=Lax/i);

    const response = await postRaw(client, '/login', { email: 'victim@example.com', password: GOOD_PASSWORD });
    assert.equal(response.status, 303);
    const session = setCookies(response.headers).get('latchkey_session');
    assert.ok(session, 'logging in sets the session cookie');
    assert.match(session, /;\s*HttpOnly/i);
    assert.match(session, /;\s*SameSite=Lax/i);
    assert.match(session, /;\s*Path=\//i);
  });

  it('a wrong password and an unknown email get the same message: "Wrong email or password."', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const wrongPassword = await client.post('/login', { email: 'victim@example.com', password: 'Wrong-Guess-123!' });
    const unknownEmail = await client.post('/login', { email: 'nobody-here@example.com', password: 'Wrong-Guess-123!' });
    assert.equal(wrongPassword.status, 401);
    assert.equal(unknownEmail.status, 401);
    const alert = (page: Page) => /<p class="error" role="alert">([^<]*)<\/p>/.exec(page.html)?.[1];
    assert.equal(alert(wrongPassword), 'Wrong email or password.');
    assert.equal(alert(unknownEmail), 'Wrong email or password.');
  });

  it('after 10 failed logins for one email, the 11th is refused with the throttle message even with the right password', async () => {
    await lk.createUser({ email: 'throttled@example.com', name: 'Thea Throttle' });
    const client = new WebClient(lk.url);
    await client.get('/login');
    for (let attempt = 1; attempt <= 10; attempt++) {
      const page = await client.post('/login', { email: 'throttled@example.com', password: `Wrong-Guess-${attempt}!` });
      assert.equal(page.status, 401, `attempt ${attempt}`);
    }
    const eleventh = await client.post('/login', { email: 'throttled@example.com', password: GOOD_PASSWORD });
    assertCalmPage(eleventh, 429, /Too many failed attempts for this email/);
    assert.ok((await client.get('/account')).url.includes('/login'), 'no session was started');
    // Other accounts are not affected.
    await logIn(lk, 'victim@example.com');
  });
});

describe('limits and lifetimes', () => {
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = await startSmtpServer();
  });
  after(async () => {
    await smtp.close();
  });

  it('with LATCHKEY_RATE_LIMIT=3, the 4th reset request in a minute from one address gets a 429 page', async () => {
    const lk = await startTestApp({ env: { LATCHKEY_RATE_LIMIT: '3' } });
    try {
      const client = new WebClient(lk.url);
      await client.get('/reset-password');
      const token = client.csrfToken();
      for (let request = 1; request <= 3; request++) {
        const page = await client.post('/reset-password', { _csrf: token, email: `someone${request}@example.com` });
        assert.equal(page.status, 200, `request ${request}`);
      }
      const fourth = await client.post('/reset-password', { _csrf: token, email: 'someone4@example.com' });
      assertCalmPage(fourth, 429, /Too many attempts from your address/);
    } finally {
      await lk.close();
    }
  });

  it('a reset link expires after LATCHKEY_RESET_TTL: the mail says "1 minute", and after 61 s the link says "This link has expired"', async () => {
    const clock = new ManualClock();
    const lk = await startTestApp({ clock, smtpUrl: smtp.url, env: { LATCHKEY_RESET_TTL: '60' } });
    try {
      await lk.createUser({ email: 'expiring@example.com', name: 'Ex Piring' });
      const client = new WebClient(lk.url);
      await client.get('/reset-password');
      const sent = await client.post('/reset-password', { email: 'expiring@example.com' });
      assert.match(textOf(sent.html), /valid for 1 minute/);
      const mail = await smtp.waitForMail((m) => m.to.includes('expiring@example.com'));
      assert.match(mail.text, /valid for 1 minute and works once/);
      const link = new URL(resetLinkIn(mail)).pathname;

      // Opened in time, submitted too late.
      const early = new WebClient(lk.url);
      assert.equal((await early.get(link)).status, 200);
      clock.advance(61_000);
      const late = await early.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      assertCalmPage(late, 410, /This link has expired/);

      const opened = await new WebClient(lk.url).get(link);
      assertCalmPage(opened, 410, /This link has expired/);
      assert.match(opened.html, /href="\/reset-password"/, 'offers a new link');
    } finally {
      await lk.close();
    }
  });

  it('a session idle longer than LATCHKEY_SESSION_IDLE_TIMEOUT is sent to /login', async () => {
    const clock = new ManualClock();
    const lk = await startTestApp({ clock, env: { LATCHKEY_SESSION_IDLE_TIMEOUT: '60' } });
    try {
      await lk.createUser({ email: 'idle@example.com', name: 'Ida Idle' });
      const client = await logIn(lk, 'idle@example.com');
      clock.advance(59_000);
      assert.ok((await client.get('/account')).url.endsWith('/account'), 'still logged in after 59 s');
      clock.advance(61_000);
      const page = await client.get('/account');
      assert.ok(page.url.includes('/login'), `sent to ${page.url}`);
      assert.match(textOf(page.html), /Log in/);
    } finally {
      await lk.close();
    }
  });

  it('a session in use stays logged in: requests every 45 s keep a 60 s idle timeout from ending it', async () => {
    const clock = new ManualClock();
    const lk = await startTestApp({ clock, env: { LATCHKEY_SESSION_IDLE_TIMEOUT: '60' } });
    try {
      await lk.createUser({ email: 'busy@example.com', name: 'Bu Sy' });
      const client = await logIn(lk, 'busy@example.com');
      for (let step = 1; step <= 4; step++) {
        clock.advance(45_000);
        const page = await client.get('/account');
        assert.ok(page.url.endsWith('/account'), `still logged in after ${step * 45} s of steady use (idle 45 s): sent to ${page.url}`);
      }
    } finally {
      await lk.close();
    }
  });

  it('with an https base URL, the session cookie is Secure with the __Host- prefix', async () => {
    const lk = await startTestApp({ env: { LATCHKEY_BASE_URL: 'https://accounts.example.test/' } });
    try {
      await lk.createUser({ email: 'secure@example.com', name: 'Se Cure' });
      const client = new WebClient(lk.url);
      const loginPage = await client.get('/login');
      const csrfCookie = setCookies(loginPage.headers).get('__Host-latchkey_csrf');
      assert.ok(csrfCookie, 'the CSRF cookie has the __Host- prefix');
      assert.match(csrfCookie, /;\s*Secure/i);

      const response = await postRaw(client, '/login', { email: 'secure@example.com', password: GOOD_PASSWORD });
      assert.equal(response.status, 303);
      const cookies = setCookies(response.headers);
      assert.equal(cookies.has('latchkey_session'), false, 'no unprefixed session cookie');
      const session = cookies.get('__Host-latchkey_session');
      assert.ok(session, 'the session cookie has the __Host- prefix');
      assert.match(session, /;\s*Secure/i);
      assert.match(session, /;\s*HttpOnly/i);
      assert.match(session, /;\s*SameSite=Lax/i);
      assert.match(session, /;\s*Path=\/(;|$)/i, '__Host- needs Path=/');
      assert.doesNotMatch(session, /;\s*Domain=/i, '__Host- forbids a Domain');
      assert.equal(response.headers.get('strict-transport-security'), 'max-age=31536000');
    } finally {
      await lk.close();
    }
  });
});

describe('the server log', () => {
  let smtp: TestSmtpServer;
  let dir: string;
  let server: ChildProcess | null = null;
  let output = '';

  before(async () => {
    smtp = await startSmtpServer();
    dir = mkdtempSync(path.join(tmpdir(), 'latchkey-log-'));
  });
  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }

  it('never contains a reset token or a password, through a whole reset and a login', async () => {
    const port = await freePort();
    const adminPassword = 'Admin-Pass-Word-918!';
    const wrongPassword = 'Wrong-Guess-55!';
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('LATCHKEY_') && !name.startsWith('NODE_TEST') && name !== 'NODE_OPTIONS') env[name] = value;
    }
    Object.assign(env, {
      NODE_ENV: 'production',
      LATCHKEY_PORT: String(port),
      LATCHKEY_HOST: '127.0.0.1',
      LATCHKEY_BASE_URL: `http://127.0.0.1:${port}/`,
      LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_SMTP_URL: smtp.url,
      LATCHKEY_ADMIN_EMAIL: 'root@example.com',
      LATCHKEY_ADMIN_PASSWORD: adminPassword,
      LATCHKEY_LOG_LEVEL: 'debug',
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 30_000);
      const check = () => {
        if (output.includes('Latchkey is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`the server stopped:\n${output}`));
      });
    });

    const base = `http://127.0.0.1:${port}`;
    const client = new WebClient(base);
    await client.get('/reset-password');
    assert.equal((await client.post('/reset-password', { email: 'root@example.com' })).status, 200);
    const mail = await smtp.waitForMail((m) => m.to.includes('root@example.com'), 10_000);
    const link = resetLinkIn(mail);
    const token = link.split('/').pop()!;
    const browser = new WebClient(base);
    assert.equal((await browser.get(new URL(link).pathname)).status, 200);
    const refused = await browser.post('/reset-password/new', { password: 'password', confirmation: 'password' });
    assert.equal(refused.status, 400);
    const changed = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.ok(new URL(changed.url).pathname === '/account', `landed on ${changed.url}`);
    assert.equal((await new WebClient(base).get(new URL(link).pathname)).status, 410);

    const login = new WebClient(base);
    await login.get('/login');
    assert.equal((await login.post('/login', { email: 'root@example.com', password: wrongPassword })).status, 401);
    assert.ok((await login.post('/login', { email: 'root@example.com', password: NEW_PASSWORD })).url.endsWith('/account'));

    child.kill('SIGTERM');
    await exited;
    server = null;

    assert.match(output, /Latchkey is ready/, 'the log was captured');
    assert.match(output, /\/reset-password\/\[token\]/, 'requests for the link are logged with the token masked');
    for (const [what, secret] of [
      ['the reset token', token],
      ['the new password', NEW_PASSWORD],
      ['the administrator password', adminPassword],
      ['a wrong password', wrongPassword],
    ] as const) {
      assert.equal(output.includes(secret), false, `the log contains ${what}`);
    }
    assert.equal(output.includes(encodeURIComponent(NEW_PASSWORD)), false, 'the log contains the new password, form-encoded');
  });
});
