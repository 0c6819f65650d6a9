// SECURITY.md's promises about the edges, each as the person it protects meets it: the key file's mode, the form
// limits and the 15-minute windows, the reset cookie's life, archived sessions, the login's `next`, proxy trust,
// the headers, the server log and the 500 page, the throttle's hashed keys, and the Security page's alerts and charts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { ManualClock, systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE, recordAudit, type AuditType } from '../src/modules/audit/audit.ts';
import { THROTTLE_TABLE } from '../src/modules/throttle/throttle.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NEW_PASSWORD = 'Amber-Lantern-73';
/** A token of the right shape that no link has. */
const NO_SUCH_TOKEN = 'A'.repeat(43);

/**
 * A browser without JavaScript, talking to the app in-process from a chosen client address: it keeps cookies,
 * posts forms with the last page's CSRF token, and does not follow redirects, so every answer's headers are seen.
 */
class Browser {
  readonly cookies = new Map<string, string>();
  private html = '';

  constructor(
    private readonly app: FastifyInstance,
    readonly address = '127.0.0.1',
  ) {}

  async request(method: 'GET' | 'POST', url: string, fields?: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const response = await this.app.inject({
      method,
      url,
      remoteAddress: this.address,
      headers: {
        cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(fields ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      payload: fields ? new URLSearchParams({ _csrf: this.csrfToken(), ...fields }).toString() : undefined,
    });
    for (const cookie of response.cookies) {
      if (isDeletion(cookie)) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    if (/name="_csrf"/.test(response.body)) this.html = response.body;
    return response;
  }

  get(url: string, headers?: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.request('GET', url, undefined, headers);
  }

  post(url: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.request('POST', url, fields, headers);
  }

  csrfToken(): string {
    return /name="_csrf" value="([^"]*)"/.exec(this.html)?.[1] ?? '';
  }

  async logIn(email: string, password = GOOD_PASSWORD): Promise<void> {
    await this.get('/login');
    const response = await this.post('/login', { email, password });
    assert.equal(response.headers.location, '/account', `${email} is logged in`);
  }
}

type SetCookie = LightMyRequestResponse['cookies'][number];

/** A cookie the browser deletes: emptied and expired. */
function isDeletion(cookie: SetCookie | undefined): boolean {
  return !!cookie && (cookie.maxAge === 0 || (cookie.expires instanceof Date && cookie.expires.getTime() <= 0));
}

function setCookie(response: LightMyRequestResponse, name: string): SetCookie | undefined {
  return response.cookies.find((cookie) => cookie.name === name);
}

/** The path of a link as the browser opens it. */
const pathOf = (link: string) => new URL(link).pathname;

describe('files on disk are the owner\'s alone', () => {
  it('a secret.key Latchkey generates is 0600, in a data folder it makes 0700, even under a permissive umask', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'latchkey-key-'));
    const dataDir = path.join(root, 'data');
    // No LATCHKEY_SECRET: the first start generates the key file.
    const env = { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dataDir), NODE_ENV: 'test' };
    // With umask 0 nothing is taken away: the modes must be the ones Latchkey asks for, not the umask's doing.
    const umask = process.umask(0);
    try {
      const services = await createServices(loadConfig(env, root), systemClock, createLogger('silent'));
      await services.close();
    } finally {
      process.umask(umask);
    }
    try {
      assert.equal(statSync(path.join(dataDir, 'secret.key')).mode & 0o777, 0o600, 'secret.key');
      assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'the data folder');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a stranger at the forms: per-address limits', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ startWorker: false, env: { LATCHKEY_RATE_LIMIT: '3', LATCHKEY_RESET_LIMIT_PER_HOUR: '5' } });
    await lk.createUser({ email: 'rita@example.com', name: 'Rita Rate' });
    await lk.createUser({ email: 'someone@example.com', name: 'Sam Someone' });
  });
  after(() => lk.close());

  const tooMany = (response: LightMyRequestResponse, what: string) => {
    assert.equal(response.statusCode, 429, what);
    assert.match(textOf(response.body), /Too many requests/, what);
    assert.ok(Number(response.headers['retry-after']) >= 1, `${what}: says how long to wait`);
  };

  it('with LATCHKEY_RATE_LIMIT=3, the 4th login post, opened reset link or current password post in a minute from one address gets a 429 page; each form counts apart, other addresses are not held up, and a minute later all are taken again', async (t) => {
    // The counts are timed on the system clock (rate-limiter-flexible reads Date.now): the test moves Date.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const person = new Browser(lk.app, '127.0.0.1');
    const elsewhere = new Browser(lk.app, '198.51.100.7');

    // The login form: two wrong passwords and the right one; the fourth post is refused, right password or not.
    await person.get('/login');
    for (let i = 0; i < 2; i++) assert.equal((await person.post('/login', { email: 'rita@example.com', password: 'Wrong-Guess-11' })).statusCode, 401);
    assert.equal((await person.post('/login', { email: 'rita@example.com', password: GOOD_PASSWORD })).headers.location, '/account');
    tooMany(await person.post('/login', { email: 'rita@example.com', password: GOOD_PASSWORD }), 'the 4th login post');
    await elsewhere.get('/login');
    assert.equal((await elsewhere.post('/login', { email: 'rita@example.com', password: 'Wrong-Guess-11' })).statusCode, 401, 'another address still logs in');

    // Opening reset links: its own count, untouched by the four login posts.
    for (let i = 1; i <= 3; i++) assert.equal((await person.get(`/reset-password/${NO_SUCH_TOKEN}`)).statusCode, 404, `opening ${i}`);
    tooMany(await person.get(`/reset-password/${NO_SUCH_TOKEN}`), 'the 4th opened link');
    assert.equal((await elsewhere.get(`/reset-password/${NO_SUCH_TOKEN}`)).statusCode, 404, 'another address still opens links');

    // The current password form: its own count too; the fourth post is refused even with the right password.
    assert.equal((await person.get('/account')).statusCode, 200);
    for (let i = 1; i <= 3; i++) {
      const wrong = await person.post('/account/password', { current: 'Wrong-Guess-11', password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      assert.equal(wrong.statusCode, 400, `wrong current password ${i}`);
    }
    tooMany(await person.post('/account/password', { current: GOOD_PASSWORD, password: NEW_PASSWORD, confirmation: NEW_PASSWORD }), 'the 4th current password post');
    for (const [name, value] of person.cookies) elsewhere.cookies.set(name, value);
    await elsewhere.get('/account');
    const fromElsewhere = await elsewhere.post('/account/password', { current: 'Wrong-Guess-11', password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(fromElsewhere.statusCode, 400, 'the same session from another address is not held up');

    // And the reset request form still has its own count.
    await person.get('/reset-password');
    assert.equal((await person.post('/reset-password', { email: 'rita@example.com' })).statusCode, 200);

    // The counts last a minute: still refused at 59 s, taken again at 61 s.
    const again = async () => {
      await person.get('/account');
      const change = await person.post('/account/password', { current: GOOD_PASSWORD, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      const link = await person.get(`/reset-password/${NO_SUCH_TOKEN}`);
      const sameAddress = new Browser(lk.app, '127.0.0.1');
      await sameAddress.get('/login');
      return [change, link, await sameAddress.post('/login', { email: 'rita@example.com', password: NEW_PASSWORD })];
    };
    t.mock.timers.tick(59_000);
    for (const [i, response] of (await again()).entries()) tooMany(response, `at 59 s, form ${i + 1}`);
    t.mock.timers.tick(2_000);
    const [change, link, login] = await again();
    assert.equal(change!.headers.location, '/account?notice=password-changed', 'at 61 s the current password form takes a post');
    assert.equal(link!.statusCode, 404, 'at 61 s a link opens');
    assert.equal(login!.headers.location, '/account', 'at 61 s the login form takes a post');
  });

  it('the throttle\'s table holds no email address, IP address or account id in the clear', async () => {
    const stranger = new Browser(lk.app, '203.0.113.77');
    await stranger.get('/login');
    for (let i = 0; i < 3; i++) assert.equal((await stranger.post('/login', { email: 'someone@example.com', password: 'Wrong-Guess-11' })).statusCode, 401);
    // A reset request takes from the account's hourly allowance per IP address when the courier acts on it.
    await stranger.get('/reset-password');
    assert.equal((await stranger.post('/reset-password', { email: 'someone@example.com' })).statusCode, 200);
    while ((await lk.services.recovery.actOnRequests()) > 0);
    const someone = await lk.services.users.findByTypedEmail('someone@example.com');

    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(THROTTLE_TABLE)}`.execute(lk.services.db);
    // Form posts, login failures for the address and for the pair, the reset allowance: four kinds of count at least.
    assert.ok(rows.length >= 4, `${rows.length} counts`);
    const stored = JSON.stringify(rows);
    for (const clear of ['someone', 'rita', 'example.com', '203.0.113.77', '198.51.100.7', '127.0.0.1', someone!.id]) {
      assert.ok(!stored.includes(clear), `the throttle's table does not hold "${clear}"`);
    }
  });
});

describe('the windows of login pauses and wrong current passwords', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    await lk.createUser({ email: 'paula@example.com', name: 'Paula Pause' });
    await lk.createUser({ email: 'cora@example.com', name: 'Cora Current' });
  });
  after(() => lk.close());

  // The counts are kept by rate-limiter-flexible, which reads the system clock (Date.now), not Latchkey's injected
  // clock: the test moves Date with node:test's mock timers, for the whole app on the real database.
  it('a login pause and the count of wrong current passwords last 15 minutes: still there at 14 min 59 s, gone at 15 min 1 s', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });

    const stranger = new Browser(lk.app, '203.0.113.9');
    await stranger.get('/login');
    for (let i = 0; i < 10; i++) assert.equal((await stranger.post('/login', { email: 'paula@example.com', password: 'Wrong-Guess-11' })).statusCode, 401);
    const paused = () => stranger.post('/login', { email: 'paula@example.com', password: GOOD_PASSWORD });
    assert.equal((await paused()).statusCode, 429, 'ten failures pause the address from this IP address');
    t.mock.timers.tick(14 * MINUTE + 59_000);
    assert.equal((await paused()).statusCode, 429, 'still paused at 14 min 59 s');
    t.mock.timers.tick(2_000);
    assert.equal((await paused()).headers.location, '/account', 'the pause is over at 15 min 1 s: the right password logs in');

    const cora = new Browser(lk.app);
    await cora.logIn('cora@example.com');
    const wrongCurrent = async () => {
      await cora.get('/account');
      return cora.post('/account/password', { current: 'Wrong-Guess-11', password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    };
    for (let i = 1; i <= 4; i++) assert.equal((await wrongCurrent()).statusCode, 400, `wrong current password ${i}`);
    t.mock.timers.tick(15 * MINUTE + 1_000);
    // A new window: the fifth wrong password 15 min 1 s after the first four does not end the session.
    assert.equal((await wrongCurrent()).statusCode, 400, 'the first four no longer count');
    for (let i = 2; i <= 4; i++) assert.equal((await wrongCurrent()).statusCode, 400, `wrong current password ${i} of the new window`);
    t.mock.timers.tick(14 * MINUTE + 59_000);
    const fifth = await wrongCurrent();
    assert.equal(fifth.headers.location, '/login?notice=password-attempts', 'the fifth within 14 min 59 s ends the session');
  });
});

describe('a reset link in the browser, and the sessions around it', () => {
  let lk: TestApp;
  const clock = new ManualClock(Date.now());

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false });
    await lk.createUser({ email: 'lena@example.com', name: 'Lena Link' });
    await lk.createUser({ email: 'arch@example.com', name: 'Archie Archived' });
    await lk.createUser({ email: 'nina@example.com', name: 'Nina Next' });
  });
  after(() => lk.close());

  async function openLink(app: TestApp, email: string): Promise<{ browser: Browser; link: string; cookie: SetCookie | undefined }> {
    const user = await app.services.users.findByTypedEmail(email);
    const { link } = await app.services.recovery.linkForHand(user!.id, COMMAND_LINE);
    const browser = new Browser(app.app);
    const opened = await browser.get(pathOf(link));
    assert.equal(opened.headers.location, '/reset-password/new');
    return { browser, link, cookie: setCookie(opened, 'latchkey_reset') };
  }

  it('the reset cookie lives at most an hour, and never longer than the link it holds', async () => {
    // The default link lives 24 hours; its cookie one hour.
    assert.equal(lk.services.config.resetTtlSeconds, 86400);
    assert.equal((await openLink(lk, 'lena@example.com')).cookie?.maxAge, 3600, 'a fresh 24-hour link');
    const { browser, link } = await openLink(lk, 'lena@example.com');
    clock.advance(86400_000 - 1200_000);
    assert.equal(setCookie(await browser.get(pathOf(link)), 'latchkey_reset')?.maxAge, 1200, 'a link with 20 minutes left');

    const shortClock = new ManualClock(Date.now());
    const short = await startTestApp({ clock: shortClock, startWorker: false, env: { LATCHKEY_RESET_TTL: '600' } });
    try {
      await short.createUser({ email: 'lena@example.com', name: 'Lena Link' });
      const opened = await openLink(short, 'lena@example.com');
      assert.equal(opened.cookie?.maxAge, 600, 'a 10-minute link');
      shortClock.advance(450_000);
      assert.equal(setCookie(await opened.browser.get(pathOf(opened.link)), 'latchkey_reset')?.maxAge, 150, 'the same link with 150 s left');
    } finally {
      await short.close();
    }
  });

  it('completing a reset and changing one\'s own password delete the reset cookie and the CSRF secret', async () => {
    const { browser } = await openLink(lk, 'lena@example.com');
    await browser.get('/reset-password/new');
    assert.ok(browser.cookies.has('latchkey_reset') && browser.cookies.has('latchkey_csrf'));
    const reset = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(reset.headers.location, '/account?notice=password-changed');
    assert.ok(isDeletion(setCookie(reset, 'latchkey_reset')), 'completing the reset deletes the reset cookie');
    assert.ok(isDeletion(setCookie(reset, 'latchkey_csrf')), 'completing the reset deletes the CSRF secret');

    // Logged in by the reset, Lena opens another link and walks away from it, then changes her password.
    const user = await lk.services.users.findByTypedEmail('lena@example.com');
    const { link } = await lk.services.recovery.linkForHand(user!.id, COMMAND_LINE);
    await browser.get(pathOf(link));
    assert.ok(browser.cookies.has('latchkey_reset'));
    await browser.get('/account');
    const change = await browser.post('/account/password', { current: NEW_PASSWORD, password: GOOD_PASSWORD, confirmation: GOOD_PASSWORD });
    assert.equal(change.headers.location, '/account?notice=password-changed');
    assert.ok(isDeletion(setCookie(change, 'latchkey_reset')), 'a password change deletes the reset cookie');
    assert.ok(isDeletion(setCookie(change, 'latchkey_csrf')), 'a password change deletes the CSRF secret');
  });

  it('an archived user\'s session stops working at its very next request', async () => {
    const browser = new Browser(lk.app);
    await browser.logIn('arch@example.com');
    assert.equal((await browser.get('/account')).statusCode, 200);
    const user = await lk.services.users.findByTypedEmail('arch@example.com');
    await lk.services.users.archive(user!.id, COMMAND_LINE);
    const next = await browser.get('/account');
    assert.equal(next.statusCode, 303);
    assert.equal(next.headers.location, '/login?next=%2Faccount', 'sent to the login page');
    const form = await browser.post('/account/sessions/end-others', {});
    assert.equal(form.headers.location, '/login?next=%2Faccount', 'a form post is not accepted either');
  });

  it('after login Latchkey follows only a path on this site: another host, //host, /\\host and javascript: in next all land on /account', async () => {
    const outside = ['https://evil.example/', '//evil.example', '/\\evil.example', '/\\/evil.example', 'javascript:alert(1)', '/\t/evil.example', 'evil.example'];
    for (const next of outside) {
      const browser = new Browser(lk.app);
      await browser.get(`/login?next=${encodeURIComponent(next)}`);
      const login = await browser.post(`/login?next=${encodeURIComponent(next)}`, { email: 'nina@example.com', password: GOOD_PASSWORD });
      assert.equal(login.headers.location, '/account', `after login, next=${JSON.stringify(next)}`);
      const again = await browser.get(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(again.headers.location, '/account', `already logged in, next=${JSON.stringify(next)}`);
    }
    // A path on this site is followed, so the refusals above are not an ignored `next`.
    const browser = new Browser(lk.app);
    await browser.get('/login?next=%2Faccount%3Fnotice%3Dsessions-ended');
    const local = await browser.post('/login?next=%2Faccount%3Fnotice%3Dsessions-ended', { email: 'nina@example.com', password: GOOD_PASSWORD });
    assert.equal(local.headers.location, '/account?notice=sessions-ended');
  });
});

describe('whose X-Forwarded-For is believed', () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  let attempt = 0;
  /** The address the audit log records for a failed login that came from `remoteAddress` with this X-Forwarded-For. */
  async function seenAs(lk: TestApp, remoteAddress: string, forwardedFor: string): Promise<string | null> {
    const email = `nobody${++attempt}@example.com`;
    const browser = new Browser(lk.app, remoteAddress);
    await browser.get('/login');
    const failed = await browser.post('/login', { email, password: 'Wrong-Guess-11' }, { 'x-forwarded-for': forwardedFor });
    assert.equal(failed.statusCode, 401);
    const row = await lk.services.db.selectFrom('audit_events').select('ip').where('type', '=', 'login.failed').where('email', '=', email).executeTakeFirstOrThrow();
    return row.ip;
  }

  async function withTrust(value: string | null): Promise<TestApp> {
    const lk = await startTestApp({ startWorker: false, env: value === null ? {} : { LATCHKEY_TRUST_PROXY: value } });
    apps.push(lk);
    return lk;
  }

  it('LATCHKEY_TRUST_PROXY=true and =1 believe one proxy: a left-most X-Forwarded-For the client wrote is not its address; =2 believes two', async () => {
    const off = await withTrust(null);
    assert.equal(await seenAs(off, '127.0.0.1', '203.0.113.5'), '127.0.0.1', 'by default X-Forwarded-For is not believed');
    for (const oneHop of ['true', '1']) {
      const lk = await withTrust(oneHop);
      // The client wrote 6.6.6.6; the proxy appended the address it saw, 203.0.113.5.
      assert.equal(await seenAs(lk, '127.0.0.1', '6.6.6.6, 203.0.113.5'), '203.0.113.5', `LATCHKEY_TRUST_PROXY=${oneHop}`);
      assert.equal(await seenAs(lk, '127.0.0.1', '6.6.6.6, 192.0.2.1, 203.0.113.5'), '203.0.113.5', `LATCHKEY_TRUST_PROXY=${oneHop}: never every hop`);
    }
    const twoHops = await withTrust('2');
    assert.equal(await seenAs(twoHops, '127.0.0.1', '6.6.6.6, 203.0.113.5, 10.0.0.2'), '203.0.113.5', 'LATCHKEY_TRUST_PROXY=2');
  });

  it('a list of proxies in LATCHKEY_TRUST_PROXY (an address or a CIDR range) is believed only for requests from those proxies', async () => {
    const address = await withTrust('127.0.0.1');
    assert.equal(await seenAs(address, '127.0.0.1', '6.6.6.6, 203.0.113.5'), '203.0.113.5', 'from the listed proxy');
    assert.equal(await seenAs(address, '198.51.100.20', '203.0.113.5'), '198.51.100.20', 'from an address not in the list');

    const range = await withTrust('127.0.0.0/8');
    assert.equal(await seenAs(range, '127.0.0.2', '6.6.6.6, 203.0.113.5, 127.0.0.9'), '203.0.113.5', 'through two proxies of the range');
    assert.equal(await seenAs(range, '198.51.100.20', '203.0.113.5'), '198.51.100.20', 'from an address outside the range');
  });
});

describe('what a browser is told to allow', () => {
  let lk: TestApp;
  before(async () => {
    lk = await startTestApp({ startWorker: false });
  });
  after(() => lk.close());

  it('every page, error pages too, sends the whole Content-Security-Policy, Cross-Origin-Opener-Policy: same-origin and a Permissions-Policy', async () => {
    const browser = new Browser(lk.app);
    for (const [url, status] of [['/login', 200], ['/no-such-page', 404], [`/reset-password/${NO_SUCH_TOKEN}`, 404]] as const) {
      const response = await browser.get(url);
      assert.equal(response.statusCode, status, url);
      assertBrowserHeaders(response, url);
    }
  });
});

/** The policy's directives, whatever their order. */
function directivesOf(policy: string): Map<string, string> {
  return new Map(policy.split(';').map((directive) => directive.trim()).filter(Boolean).map((directive) => {
    const [name, ...values] = directive.split(/\s+/);
    return [name!, values.join(' ')];
  }));
}

function assertBrowserHeaders(response: LightMyRequestResponse, what: string): void {
  const policy = directivesOf(String(response.headers['content-security-policy'] ?? ''));
  assert.deepEqual(
    Object.fromEntries(policy),
    {
      'default-src': "'none'",
      // Same-origin scripts only (the passkey ceremony, /assets/passkeys.js), and their calls back to Latchkey.
      'script-src': "'self'",
      'connect-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self'",
      'form-action': "'self'",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
    },
    `${what}: Content-Security-Policy`,
  );
  assert.equal(response.headers['cross-origin-opener-policy'], 'same-origin', `${what}: Cross-Origin-Opener-Policy`);
  const permissions = String(response.headers['permissions-policy'] ?? '');
  for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb', 'browsing-topics', 'interest-cohort']) {
    assert.match(permissions, new RegExp(`(^|, )${feature}=\\(\\)`), `${what}: Permissions-Policy turns off ${feature}`);
  }
}

describe('when something breaks inside', () => {
  it('an unexpected error shows a calm page with a reference, and the log has the error under that reference but never the Cookie or Authorization header', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-500-'));
    const lines: string[] = [];
    const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir, LATCHKEY_RATE_LIMIT: '0', NODE_ENV: 'test' };
    const services = await createServices(loadConfig(env, dir), systemClock, createLogger('trace', { write: (line: string) => void lines.push(line) }));
    const app = await buildApp(services);
    const detail = 'relation "secret_table" does not exist at /srv/latchkey/internal.ts:42';
    app.get('/boom', async () => {
      throw new Error(detail);
    });
    await app.ready();
    try {
      await services.users.create({ email: 'logan@example.com', name: 'Logan Log', password: GOOD_PASSWORD, role: 'user' }, COMMAND_LINE);
      const browser = new Browser(app);
      await browser.logIn('logan@example.com');
      const session = browser.cookies.get('latchkey_session')!;
      const bearer = 'Bearer lk-authorization-value-Zx81qP';

      const response = await browser.get('/boom', { authorization: bearer });
      assert.equal(response.statusCode, 500);
      const text = textOf(response.body);
      assert.match(text, /Something went wrong/);
      const reference = /give your administrator this reference: ([\w-]+)\./.exec(text)?.[1];
      assert.ok(reference, `a reference in: ${text}`);
      for (const leak of ['secret_table', '/srv/latchkey', 'internal.ts', 'Error:', '    at ']) assert.ok(!response.body.includes(leak), `the page does not show "${leak}"`);
      assertBrowserHeaders(response, 'the 500 page');

      const log = lines.join('');
      const logged = lines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string; err?: { message?: string } });
      const error = logged.find((entry) => entry.msg === 'unexpected error');
      assert.equal(error?.reqId, reference, 'the log files the error under the page\'s reference');
      assert.equal(error?.err?.message, detail, 'the log keeps what went wrong for the operator');
      assert.ok(log.includes('"url":"/boom"'), 'requests are logged at this level');
      assert.ok(!log.includes(session), 'the session cookie is not in the log');
      assert.ok(!log.includes('lk-authorization-value'), 'the Authorization header is not in the log');
    } finally {
      await app.close();
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Security page sees attacks that stay under the per-address limits', () => {
  let lk: TestApp;
  /** Mid-hour, so an hour's figures are not split by the clock. */
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 12, 30));

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false, env: { LATCHKEY_RESET_LIMIT_PER_HOUR: '1' } });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    await lk.createUser({ email: 'tess@example.com', name: 'Tess Target' });
  });
  after(() => lk.close());

  const kindsRaised = async () => (await lk.services.security.checkAlerts()).map((alert) => [alert.kind, alert.subject, alert.summary]);

  it('a surge of failed logins over the usual hour raises its alert once it reaches LATCHKEY_ALERT_FAILED_LOGIN_MIN', async () => {
    // A quiet week before: one failed login an hour. The usual hour is worked out once per clock hour, so the
    // week is written before this hour's first check.
    for (let hour = 2; hour < 168; hour++) await recordAudit(lk.services.db, clock.now() - hour * HOUR, { ip: '198.18.0.1' }, { type: 'login.failed', email: 'steady@example.com' });
    const guesser = new Browser(lk.app, '203.0.113.5');
    await guesser.get('/login');
    // Each address once: far under the ten failures that pause an address from one IP address.
    const guess = async (i: number) => assert.equal((await guesser.post('/login', { email: `guess${i}@example.com`, password: 'Wrong-Guess-11' })).statusCode, 401);
    for (let i = 1; i <= 49; i++) await guess(i);
    assert.deepEqual((await kindsRaised()).filter(([kind]) => kind === 'failed_login_surge'), [], '49 are under the minimum of 50');
    await guess(50);
    assert.deepEqual((await kindsRaised()).filter(([kind]) => kind === 'failed_login_surge'), [
      ['failed_login_surge', '', '50 failed logins in the last hour; a usual hour of the last 7 days has 1.'],
    ]);
  });

  it('reset requests spread over the addresses of one /24 network, each under the limit for one address, raise an alert for the network', async () => {
    // Five addresses of 192.0.2.0/24 ask for four addresses each: 20 different addresses from the network.
    for (let host = 1; host <= 5; host++) {
      const sprayer = new Browser(lk.app, `192.0.2.${host}`);
      await sprayer.get('/reset-password');
      for (let i = 0; i < 4; i++) assert.equal((await sprayer.post('/reset-password', { email: `spray${host}-${i}@example.com` })).statusCode, 200);
    }
    while ((await lk.services.recovery.actOnRequests()) > 0);
    const spraying = (await kindsRaised()).filter(([kind]) => kind === 'spraying');
    assert.deepEqual(spraying.map(([, subject]) => subject), ['192.0.2.0/24'], 'the network, and no single address');
    assert.match(String(spraying[0]![2]), /^Network 192\.0\.2\.0\/24 asked to reset the password of 20 different addresses in the last hour \(20 requests\)\.$/);
  });

  it('the Security page counts reset links opened, used and refused, throttled requests and mail failures by hour, each opening the matching Audit Log', async () => {
    clock.advance(2 * HOUR);
    const thisHour = Math.floor(clock.now() / HOUR) * HOUR;

    // Reset links: one opened twice (opening does not use it up) and used; then the used link and two unknown tokens refused.
    const tess = await lk.services.users.findByTypedEmail('tess@example.com');
    const { link } = await lk.services.recovery.linkForHand(tess!.id, COMMAND_LINE);
    const browser = new Browser(lk.app, '198.51.100.30');
    for (let i = 0; i < 2; i++) assert.equal((await browser.get(pathOf(link))).headers.location, '/reset-password/new');
    await browser.get('/reset-password/new');
    assert.equal((await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD })).statusCode, 303);
    assert.equal((await browser.get(pathOf(link))).statusCode, 410, 'the used link');
    for (let i = 0; i < 2; i++) assert.equal((await browser.get(`/reset-password/${NO_SUCH_TOKEN}`)).statusCode, 404);

    // Throttled: three reset requests for Tess from one address with a limit of 1 an hour; two logins refused
    // after ten failures.
    const asker = new Browser(lk.app, '198.51.100.31');
    await asker.get('/reset-password');
    for (let i = 0; i < 3; i++) await asker.post('/reset-password', { email: 'tess@example.com' });
    while ((await lk.services.recovery.actOnRequests()) > 0);
    const guesser = new Browser(lk.app, '198.51.100.32');
    await guesser.get('/login');
    for (let i = 0; i < 10; i++) await guesser.post('/login', { email: 'tess@example.com', password: 'Wrong-Guess-11' });
    for (let i = 0; i < 2; i++) assert.equal((await guesser.post('/login', { email: 'tess@example.com', password: NEW_PASSWORD })).statusCode, 429);

    // Mail failures: two deliveries that will be retried, one given up.
    const mail = (type: AuditType, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => recordAudit(lk.services.db, clock.now(), { ip: null }, { type, email: `user${i}@example.com` })));
    await mail('mail.retrying', 2);
    await mail('mail.failed', 1);

    const admin = new Browser(lk.app);
    await admin.logIn('root@example.com');
    const page = await admin.get('/admin/security');
    assert.equal(page.statusCode, 200);
    const figures = async (id: string, expected: string[]) => {
      const cells = rowOf(sectionOf(page.body, id), hourLabel(thisHour));
      assert.deepEqual(cells.map((cell) => cell.text), expected, id);
      for (const cell of cells) {
        if (cell.text === '0') continue;
        const audit = await admin.get(cell.href!);
        assert.equal(audit.statusCode, 200);
        assert.equal(/\(([\d,]+) events? in all\)/.exec(textOf(audit.body))?.[1], cell.text, `${id}: ${cell.href} shows the events it counts`);
      }
    };
    await figures('links', ['2', '1', '3']);
    await figures('throttled', ['2', '2']);
    await figures('mail-failures', ['2', '1']);
  });
});

/** The chart section with this id, as HTML. */
function sectionOf(html: string, id: string): string {
  const match = new RegExp(`<section class="card" id="${id}"[\\s\\S]*?</section>`).exec(html);
  assert.ok(match, `a section ${id}`);
  return match[0];
}

/** The cells of the table row whose header is `header`: their text and, where there is one, their link. */
function rowOf(html: string, header: string): Array<{ text: string; href: string | null }> {
  const escaped = header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`<tr><th scope="row">${escaped}</th>(.*?)</tr>`).exec(html);
  assert.ok(match, `a row for ${header}`);
  return [...match[1]!.matchAll(/<td>(.*?)<\/td>/g)].map((cell) => ({
    text: textOf(cell[1]!),
    href: /href="([^"]+)"/.exec(cell[1]!)?.[1]?.replace(/&amp;/g, '&') ?? null,
  }));
}

const hourLabel = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
