// What a stranger, the next person at a shared computer, or a local user could get at — and no longer can.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { csvCell } from '../src/modules/admin/audit.views.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';

/** Each Set-Cookie line of a response by cookie name: value and attributes as the browser reads them. */
function setCookieLines(headers: Headers): Map<string, { value: string; attributes: Map<string, string> }> {
  const cookies = new Map<string, { value: string; attributes: Map<string, string> }>();
  for (const line of headers.getSetCookie()) {
    const [pair, ...rest] = line.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    const attributes = new Map(rest.map((attribute) => {
      const at = attribute.indexOf('=');
      return at < 0 ? [attribute.toLowerCase(), ''] : [attribute.slice(0, at).toLowerCase(), attribute.slice(at + 1)];
    }));
    cookies.set(pair!.slice(0, eq), { value: pair!.slice(eq + 1), attributes });
  }
  return cookies;
}

/** A cookie the browser deletes: emptied and expired. */
function isDeletion(cookie: { value: string; attributes: Map<string, string> } | undefined): boolean {
  return !!cookie && (cookie.attributes.get('max-age') === '0' || /1970/.test(cookie.attributes.get('expires') ?? ''));
}

/** A raw request with the client's cookies, no redirect followed: the Set-Cookie lines of this one answer. */
async function raw(client: WebClient, method: 'GET' | 'POST', pathname: string, fields?: Record<string, string>): Promise<Response> {
  const body = fields ? new URLSearchParams({ _csrf: client.csrfToken(), ...fields }) : undefined;
  return fetch(new URL(pathname, client.base), {
    method,
    body,
    redirect: 'manual',
    headers: {
      cookie: [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
      ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
  });
}

async function loggedIn(lk: TestApp, email: string, remember = false, password = GOOD_PASSWORD): Promise<WebClient> {
  const client = new WebClient(lk.url);
  await client.get('/login');
  const page = await client.post('/login', { email, password, ...(remember ? { remember: 'yes' } : {}) });
  assert.equal(new URL(page.url).pathname, '/account', textOf(page.html));
  return client;
}

describe('a shared computer: what the browser keeps', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp();
    await lk.createUser({ email: 'owner@example.com', name: 'Olga Owner' });
    await lk.createUser({ email: 'next@example.com', name: 'Ned Next' });
  });
  after(() => lk.close());

  /** A browser that opened Olga's reset link and walked away from the "New Password" page. */
  async function abandonedResetPage(): Promise<WebClient> {
    const owner = await lk.services.users.findByTypedEmail('owner@example.com');
    const { link } = await lk.services.recovery.linkForHand(owner!.id, COMMAND_LINE);
    const browser = new WebClient(lk.url);
    const page = await browser.get(new URL(link).pathname);
    assert.match(textOf(page.html), /New Password/, 'the link opened the reset form');
    return browser;
  }

  it('a reset link opened but not finished ends when someone logs in in that browser', async () => {
    const browser = await abandonedResetPage();
    await browser.get('/login');
    const login = await raw(browser, 'POST', '/login', { email: 'next@example.com', password: GOOD_PASSWORD });
    assert.equal(login.status, 303);
    assert.ok(isDeletion(setCookieLines(login.headers).get('latchkey_reset')), 'logging in deletes the reset cookie');
    await browser.post('/login', { email: 'next@example.com', password: GOOD_PASSWORD });
    const again = await browser.get('/reset-password/new');
    assert.doesNotMatch(textOf(again.html), /New Password/, 'the next person does not reach Olga\'s "New Password" form');
  });

  it('a reset link opened but not finished ends when the person in that browser logs out', async () => {
    const browser = await abandonedResetPage();
    const ned = await loggedIn(lk, 'next@example.com');
    for (const [name, value] of ned.cookies) if (name === 'latchkey_session') browser.cookies.set(name, value);
    await browser.get('/account');
    const logout = await raw(browser, 'POST', '/logout', {});
    assert.equal(logout.status, 303);
    assert.ok(isDeletion(setCookieLines(logout.headers).get('latchkey_reset')), 'logging out deletes the reset cookie');
  });

  it('the session cookie ends with the browser unless "Remember me on this device" is ticked', async () => {
    const page = await new WebClient(lk.url).get('/login');
    assert.match(textOf(page.html), /Remember me on this device/);

    const forgetful = new WebClient(lk.url);
    await forgetful.get('/login');
    const plain = setCookieLines((await raw(forgetful, 'POST', '/login', { email: 'next@example.com', password: GOOD_PASSWORD })).headers).get('latchkey_session');
    assert.ok(plain, 'a session cookie is set');
    assert.equal(plain.attributes.has('max-age'), false, 'no Max-Age: it ends with the browser');
    assert.equal(plain.attributes.has('expires'), false, 'no Expires either');

    const remembering = new WebClient(lk.url);
    await remembering.get('/login');
    const kept = setCookieLines((await raw(remembering, 'POST', '/login', { email: 'next@example.com', password: GOOD_PASSWORD, remember: 'yes' })).headers).get('latchkey_session');
    assert.equal(kept?.attributes.get('max-age'), String(lk.services.config.sessionMaxSeconds), 'remembered up to the session\'s absolute limit');
  });

  it('a password change keeps the choice: a remembered session stays remembered, a browser session stays one', async () => {
    for (const remember of [true, false]) {
      const newPassword = remember ? 'Amber-Lantern-73' : GOOD_PASSWORD;
      const current = remember ? GOOD_PASSWORD : 'Amber-Lantern-73';
      const client = await loggedIn(lk, 'owner@example.com', remember, current);
      const change = await raw(client, 'POST', '/account/password', { current, password: newPassword, confirmation: newPassword });
      assert.equal(change.status, 303);
      const session = setCookieLines(change.headers).get('latchkey_session');
      assert.ok(session && !isDeletion(session), 'a new session cookie');
      assert.equal(session.attributes.has('max-age'), remember, remember ? 'still remembered' : 'still ends with the browser');
    }
  });

  it('the CSRF secret is renewed at login and at logout: a token from before no longer works after', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const before = client.cookies.get('latchkey_csrf');
    const beforeToken = client.csrfToken();
    const login = await raw(client, 'POST', '/login', { email: 'next@example.com', password: GOOD_PASSWORD });
    assert.ok(isDeletion(setCookieLines(login.headers).get('latchkey_csrf')), 'logging in deletes the old CSRF secret');
    await client.post('/login', { email: 'next@example.com', password: GOOD_PASSWORD });
    const after = client.cookies.get('latchkey_csrf');
    assert.ok(after && after !== before, 'the account page made a new secret');
    const withOldToken = await raw(client, 'POST', '/account/sessions/end-others', { _csrf: beforeToken });
    assert.equal(withOldToken.status, 403, 'a token of the secret from before login is refused');

    const logout = await raw(client, 'POST', '/logout', {});
    assert.equal(logout.status, 303);
    assert.ok(isDeletion(setCookieLines(logout.headers).get('latchkey_csrf')), 'logging out deletes the CSRF secret too');
  });
});

describe('over https, cookies are cleared with the attributes they were set with', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ env: { LATCHKEY_BASE_URL: 'https://accounts.example.test/' } });
    await lk.createUser({ email: 'secure@example.com', name: 'Sé Cure' });
  });
  after(() => lk.close());

  it('logging out deletes __Host- cookies with Secure, Path=/, HttpOnly and SameSite=Lax, as they were set', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const login = await raw(client, 'POST', '/login', { email: 'secure@example.com', password: GOOD_PASSWORD });
    const set = setCookieLines(login.headers).get('__Host-latchkey_session');
    assert.ok(set, 'the session cookie is set');
    client.cookies.set('__Host-latchkey_session', set.value);
    await client.get('/account');

    const logout = await raw(client, 'POST', '/logout', {});
    const cleared = setCookieLines(logout.headers);
    for (const name of ['__Host-latchkey_session', '__Host-latchkey_reset', '__Host-latchkey_csrf']) {
      const cookie = cleared.get(name);
      assert.ok(isDeletion(cookie), `${name} is deleted`);
      for (const attribute of ['secure', 'httponly']) assert.ok(cookie!.attributes.has(attribute), `${name}'s deletion carries ${attribute}`);
      assert.equal(cookie!.attributes.get('path'), '/', `${name}'s deletion has Path=/`);
      assert.equal(cookie!.attributes.get('samesite')?.toLowerCase(), 'lax', `${name}'s deletion has SameSite=Lax`);
      assert.equal(cookie!.attributes.has('domain'), false, `${name}'s deletion has no Domain`);
    }
    for (const [attribute, value] of set.attributes) {
      if (attribute !== 'max-age' && attribute !== 'expires') assert.equal(cleared.get('__Host-latchkey_session')!.attributes.get(attribute), value, `same ${attribute}`);
    }
  });

  it('an unusable reset link deletes the __Host- reset cookie with Secure', async () => {
    const response = await fetch(new URL('/reset-password/new', lk.url), { redirect: 'manual', headers: { cookie: '__Host-latchkey_reset=' + 'x'.repeat(43) } });
    const cookie = setCookieLines(response.headers).get('__Host-latchkey_reset');
    assert.ok(isDeletion(cookie));
    assert.ok(cookie!.attributes.has('secure'), 'with Secure, or the browser keeps it');
  });
});

describe('the audit log export and the console show what strangers typed, harmlessly', () => {
  let lk: TestApp;
  let admin: WebClient;

  before(async () => {
    lk = await startTestApp();
    await lk.createUser({ email: 'root@example.com', name: 'Root Admin', admin: true });
    admin = await loggedIn(lk, 'root@example.com');
  });
  after(() => lk.close());

  /** A failed login through the real form, from a browser that calls itself `userAgent`. */
  async function failedLogin(email: string, userAgent = 'test browser'): Promise<void> {
    const client = new WebClient(lk.url);
    await client.get('/login');
    const page = await client.request('POST', '/login', new URLSearchParams({ _csrf: client.csrfToken(), email, password: 'Wrong-Guess-1!' }), { 'user-agent': userAgent });
    assert.ok(page.status === 401 || page.status === 429, `the login is refused: ${page.status}`);
  }

  it('no CSV cell can run as a formula, whatever separator the spreadsheet splits on', async () => {
    const payloads = [`x;=cmd|' /C calc'!A0`, `=HYPERLINK("http://evil.example")`, `a,+1+1`, `tab\t-2+3`, ` @SUM(A1)`, '\uFF1D1+1'];
    for (const payload of payloads) await failedLogin('x@example.com', payload.replace(/\uFF1D/, '='));
    const csv = (await admin.get('/admin/audit.csv')).html;
    const lines = csv.trimEnd().split('\r\n');
    for (const line of lines) {
      assert.match(line, /^"([^"]|"")*"(,"([^"]|"")*")*$/, `every cell is quoted: ${line}`);
      // A spreadsheet that ignores quotes and splits on any of these still finds no cell that starts a formula.
      for (const separator of [',', ';', '\t', '|']) {
        for (const cell of line.split(separator)) {
          const text = cell.replace(/^"/, '').replace(/"$/, '').trimStart();
          assert.doesNotMatch(text, /^[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/, `split on ${JSON.stringify(separator)}: ${JSON.stringify(cell)} in ${line}`);
        }
      }
    }
    assert.ok(lines.some((line) => line.includes(`x;'=cmd|' /C calc'!A0`)), 'the payload is kept, as text');
    assert.equal(csvCell('\uFF1D1+1'), `"'\uFF1D1+1"`, 'the full-width equals sign too');
  });

  it('control and bidi characters a stranger typed are written out on the Audit Log page, not obeyed', async () => {
    const typed = 'admin\u202Emoc.elpmaxe@evil.example\u0007';
    await failedLogin(typed);
    const page = await admin.get('/admin/audit');
    assert.ok(!page.html.includes('\u202E'), 'the right-to-left override is not in the page');
    assert.ok(!page.html.includes('\u0007'), 'nor the bell');
    assert.match(textOf(page.html), /admin<U\+202E>moc\.elpmaxe@evil\.example<U\+0007>/);
    const csv = (await admin.get('/admin/audit.csv')).html;
    assert.ok(!csv.includes('\u202E'), 'nor the export');
  });
});

describe('files on disk are the owner\'s alone', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const modeOf = (file: string) => statSync(file).mode & 0o777;

  it('with LATCHKEY_SECRET set, the data folder is made 0700 and the database and its journals 0600', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'latchkey-modes-'));
    dirs.push(root);
    const dataDir = path.join(root, 'data');
    const dbFile = path.join(dataDir, 'latchkey.db');
    const env = { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_DATABASE_URL: `sqlite:${dbFile}`, LATCHKEY_SECRET: 'a'.repeat(40), NODE_ENV: 'test' };
    const services = await createServices(loadConfig(env, root), systemClock, createLogger('silent'));
    try {
      await services.users.create({ email: 'modes@example.com', name: 'Mo Des', password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
      assert.equal(modeOf(dataDir), 0o700, 'the data folder');
      for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) {
        if (existsSync(file)) assert.equal(modeOf(file), 0o600, path.basename(file));
      }
      assert.ok(existsSync(`${dbFile}-wal`), 'the write-ahead log exists and was checked');
    } finally {
      await services.close();
    }
  });

  it('a database left readable by others by an earlier start is made 0600 at the next', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'latchkey-modes-'));
    dirs.push(root);
    const dbFile = path.join(root, 'old.db');
    writeFileSync(dbFile, '');
    chmodSync(dbFile, 0o644);
    const env = { LATCHKEY_DATA_DIR: root, LATCHKEY_DATABASE_URL: `sqlite:${dbFile}`, LATCHKEY_SECRET: 'b'.repeat(40), NODE_ENV: 'test' };
    const services = await createServices(loadConfig(env, root), systemClock, createLogger('silent'));
    await services.close();
    assert.equal(modeOf(dbFile), 0o600);
  });
});
