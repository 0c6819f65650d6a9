// The Security view and its alerts over HTTP: a week of activity counted by hour with every figure opening the
// matching Audit Log, the top sources and targets, a spraying attack raising an alert (audit event, banner,
// one mail to the administrators an hour, "Acknowledge"), failing mail, and once across two instances.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/infra/clock.ts';
import { dialectOf } from '../src/infra/db.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { recordAudit, type AuditType } from '../src/modules/audit/audit.ts';
import { median } from '../src/modules/security/alerts.ts';
import { networkOf, parseNetwork } from '../src/modules/security/networks.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';

const HOUR = 3_600_000;
/** Mid-hour, so an hour's figures are not split by the clock. */
const NOW = Date.UTC(2026, 0, 10, 12, 30);

/** The cells of the table row whose header is `header`: their text and, where there is one, their link. */
function row(html: string, header: string): Array<{ text: string; href: string | null }> {
  const escaped = header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`<tr><th scope="row">${escaped}</th>(.*?)</tr>`).exec(html);
  assert.ok(match, `a row for ${header}`);
  return [...match[1]!.matchAll(/<td>(.*?)<\/td>/g)].map((cell) => ({
    text: textOf(cell[1]!),
    href: /href="([^"]+)"/.exec(cell[1]!)?.[1]?.replace(/&amp;/g, '&') ?? null,
  }));
}

/** The chart section with this id, as HTML. */
function section(html: string, id: string): string {
  const match = new RegExp(`<section class="card" id="${id}"[\\s\\S]*?</section>`).exec(html);
  assert.ok(match, `a section ${id}`);
  return match[0];
}

const hourLabel = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

describe('Security view and alerts', () => {
  let lk: TestApp;
  const clock = new ManualClock(NOW);
  let admin: WebClient;
  const known = ['ana@example.com', 'ben@example.com', 'cleo@example.com'];

  before(async () => {
    lk = await startTestApp({ clock, startWorker: false, env: { LATCHKEY_TRUST_PROXY: '1' } });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    await lk.createUser({ email: 'second@example.com', name: 'Bea Admin', admin: true });
    await lk.createUser({ email: 'gone.admin@example.com', name: 'Old Admin', admin: true }).then((user) => lk.services.users.archive(user.id, { ip: null }));
    await lk.createUser({ email: 'plain@example.com', name: 'Pat Plain' });
    for (const email of known) await lk.createUser({ email, name: email.split('@')[0]! });
    admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
  });
  after(async () => {
    await lk.close();
  });

  /** Posts the reset form as a browser behind the trusted proxy at `ip` would; the courier's pass then acts on it. */
  async function askReset(ip: string, emails: string[]): Promise<void> {
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    const token = client.csrfToken();
    for (const email of emails) {
      const page = await client.request('POST', '/reset-password', new URLSearchParams({ _csrf: token, email }), { 'x-forwarded-for': ip });
      assert.equal(page.status, 200);
    }
    while ((await lk.services.recovery.actOnRequests()) > 0);
  }

  async function events(type: AuditType): Promise<number> {
    const row = await lk.services.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', type).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async function alertMails(): Promise<Array<{ to_address: string; subject: string }>> {
    return lk.services.db.selectFrom('mail_messages').select(['to_address', 'subject']).where('template', '=', 'security_alert').orderBy('to_address').execute();
  }

  /** The number of events the Audit Log shows behind a link. */
  async function auditCount(href: string): Promise<number> {
    const page = await admin.get(href);
    assert.equal(page.status, 200, href);
    const match = /\(([\d,]+) events? in all\)/.exec(textOf(page.html));
    return Number(match![1]!.replace(/,/g, ''));
  }

  it('networks: an IPv4 /24 and an IPv6 /64, however the address is written', () => {
    assert.equal(networkOf('203.0.113.77'), '203.0.113.0/24');
    assert.equal(networkOf('::ffff:203.0.113.77'), '203.0.113.0/24');
    assert.equal(networkOf('2001:db8:1:2::a'), '2001:db8:1:2::/64');
    assert.equal(networkOf('2001:0DB8:0001:0002:0:0:0:b'), '2001:db8:1:2::/64');
    assert.equal(networkOf('2001:db8::1'), '2001:db8::/64');
    assert.equal(networkOf('not an address'), null);
    assert.deepEqual(parseNetwork('203.0.113.9/24'), { cidr: '203.0.113.0/24', family: 4, prefix: '203.0.113.' });
    assert.equal(parseNetwork('10.0.0.0/8'), null);
    assert.equal(median([0, 0, 3, 10]), 1.5);
  });

  it('the Security page counts a week of reset requests by hour, known and unknown, and every figure opens the matching Audit Log', async () => {
    // Two days ago, from another network: requests for addresses nobody has.
    for (const email of ['ghost1@example.com', 'ghost2@example.com']) {
      await recordAudit(lk.services.db, NOW - 50 * HOUR, { ip: '198.51.100.4' }, { type: 'reset.requested', email });
    }
    // Older than the week: not counted.
    await recordAudit(lk.services.db, NOW - 8 * 24 * HOUR, { ip: '198.51.100.4' }, { type: 'reset.requested', email: 'ancient@example.com' });
    await recordAudit(lk.services.db, NOW - 3 * HOUR, { ip: '198.51.100.9' }, { type: 'login.failed', email: 'ana@example.com' });
    await askReset('203.0.113.7', [...known, 'nobody1@example.com', 'nobody2@example.com']);
    await askReset('2001:db8:1:2::a', ['ana@example.com']);
    await askReset('2001:db8:1:2::b', ['nobody3@example.com']);

    const page = await admin.get('/admin/security');
    assert.equal(page.status, 200);
    const text = textOf(page.html);
    assert.match(text, /Reset requests: 9 ?, of which 5 \(56%\) for addresses without an account/);
    assert.match(page.html, /<a href="\/admin\/security" aria-current="page">Security<\/a>/, 'Security is in the Settings menu');

    // This hour in the reset chart's table: 4 for an account, 3 without, 0 over the limit.
    const resets = section(page.html, 'resets');
    assert.match(resets, /<svg class="chart" width="100%" role="img" aria-label="Reset requests per hour, last 7 days: for an account 4, for an address without an account 5, over the hourly limit \(no mail\) 0; busiest hour/);
    const thisHour = row(resets, hourLabel(Math.floor(NOW / HOUR) * HOUR));
    assert.deepEqual(thisHour.map((cell) => cell.text), ['4', '3', '0']);
    assert.equal(thisHour[0]!.href, '/admin/audit?type=reset.requested&account=known&from=2026-01-10T12%3A00&to=2026-01-10T13%3A00');
    assert.equal(await auditCount(thisHour[0]!.href!), 4);
    assert.equal(await auditCount(thisHour[1]!.href!), 3);
    assert.equal(thisHour[2]!.href, null, 'a zero links nowhere');
    const twoDaysAgo = row(resets, hourLabel(Math.floor((NOW - 50 * HOUR) / HOUR) * HOUR));
    assert.deepEqual(twoDaysAgo.map((cell) => cell.text), ['0', '2', '0']);
    assert.equal(await auditCount(twoDaysAgo[1]!.href!), 2);
    assert.match(section(page.html, 'failed-logins'), /aria-label="Failed logins per hour, last 7 days: failed logins 1;/);

    // Top sources: the address, its network, the IPv6 /64 of two addresses, the most asked-for account.
    const source = row(page.html, '203.0.113.7');
    assert.deepEqual(source.map((cell) => cell.text), ['5', '5', '2']);
    assert.equal(await auditCount(source[0]!.href!), 5);
    assert.equal(await auditCount(source[2]!.href!), 2);
    const network = row(page.html, '203.0.113.0/24');
    assert.deepEqual(network.map((cell) => cell.text), ['5', '1', '5']);
    assert.equal(await auditCount(network[0]!.href!), 5);
    const v6 = row(page.html, '2001:db8:1:2::/64');
    assert.deepEqual(v6.map((cell) => cell.text), ['2', '2', '2']);
    assert.equal(await auditCount(v6[0]!.href!), 2);
    const target = row(page.html, 'ana@example.com');
    assert.equal(target[0]!.text, 'Yes');
    assert.deepEqual(target.slice(1).map((cell) => cell.text), ['2', '2']);
    assert.equal(await auditCount(target[1]!.href!), 2);

    assert.match(text, /Database Size now: [\d.]+ (KiB|MiB)/);
  });

  it('the Audit Log keeps its filters and takes the new ones; bad input gets a 400 page', async () => {
    assert.equal(await auditCount('/admin/audit?type=reset.requested'), 10);
    assert.equal(await auditCount('/admin/audit?type=reset.requested&account=unknown'), 6);
    assert.equal(await auditCount('/admin/audit?ip=198.51.100.4'), 3);
    assert.equal(await auditCount('/admin/audit?ip=198.51.100.0%2F24&type=reset.requested'), 3);
    assert.equal(await auditCount('/admin/audit?type=reset.requested&ip=2001%3Adb8%3A1%3A2%3A%3Affff%2F64'), 2);
    assert.equal(await auditCount('/admin/audit?type=reset.requested,login.failed&from=2026-01-10&to=2026-01-10'), 8);
    assert.equal(await auditCount('/admin/audit?type=login.failed&from=2026-01-10T09%3A30&to=2026-01-10T09%3A31'), 1);
    const multiple = await admin.get('/admin/audit?type=reset.requested,login.failed');
    assert.match(multiple.html, /<option value="reset.requested,login.failed" selected>Reset requested or Login failed<\/option>/);
    for (const bad of ['ip=not-an-address', 'ip=10.0.0.0%2F8', 'account=everyone', 'from=2026-01-10T25%3A00', 'to=2026-02-30']) {
      const page = await admin.get(`/admin/audit?${bad}`);
      assert.equal(page.status, 400, bad);
      assert.match(textOf(page.html), /must be/);
    }
    assert.equal((await admin.get('/admin/audit.csv?ip=nonsense')).status, 400);
  });

  it('a spraying attack raises one alert: an audit event, a banner on every console page, one mail to each active administrator an hour, until acknowledged', async () => {
    const spray = Array.from({ length: 22 }, (_, i) => `target${i}@example.com`);
    await askReset('192.0.2.50', spray);
    const raised = await lk.services.security.checkAlerts();
    assert.deepEqual(raised.map((alert) => [alert.kind, alert.subject]), [['spraying', '192.0.2.50']]);
    assert.match(raised[0]!.summary, /IP address 192\.0\.2\.50 asked to reset the password of 22 different addresses in the last hour/);
    assert.equal(await events('security.alert'), 1);

    const users = await admin.get('/admin/users');
    assert.match(textOf(users.html), /A security alert needs attention: One source asking for many accounts — IP address 192\.0\.2\.50/);
    assert.match(users.html, /<a href="\/admin\/security#alerts">Review and acknowledge<\/a>/);
    assert.match(textOf((await admin.get('/admin/audit')).html), /A security alert needs attention/);

    // Mailed to the two active administrators, not the archived one.
    assert.deepEqual(await alertMails(), [
      { to_address: 'root@example.com', subject: 'Security alert: One source asking for many accounts' },
      { to_address: 'second@example.com', subject: 'Security alert: One source asking for many accounts' },
    ]);
    const rendered = lk.services.outbox.render(
      (await lk.services.db.selectFrom('mail_messages').selectAll().where('template', '=', 'security_alert').executeTakeFirstOrThrow()),
      false,
    );
    assert.match(rendered.text, /IP address 192\.0\.2\.50 asked to reset the password of 22 different addresses/);
    assert.match(rendered.text, new RegExp(`${lk.url.replace('127.0.0.1', 'localhost')}/admin/security`));
    assert.match(rendered.html, /Open the Security page/);

    // Checked again: nothing new. A second sprayer in the same hour: its own alert, but no second mail.
    clock.advance(60_000);
    assert.deepEqual(await lk.services.security.checkAlerts(), []);
    await askReset('192.0.2.51', spray.slice(0, 20));
    const second = await lk.services.security.checkAlerts();
    assert.deepEqual(second.map((alert) => alert.subject), ['192.0.2.51']);
    assert.equal((await alertMails()).length, 2, 'at most one mail an hour per kind');

    // The alert's events in the Audit Log.
    const security = await admin.get('/admin/security');
    const alertRow = /<tr><td>[^<]*<\/td><th scope="row">One source asking for many accounts<\/th><td>IP address 192\.0\.2\.50[^<]*<a href="([^"]+)">Show the events<\/a>/.exec(security.html);
    assert.ok(alertRow);
    assert.equal(await auditCount(alertRow[1]!.replace(/&amp;/g, '&')), 22);

    // Acknowledged, both: the banner goes, the audit log says who.
    for (let open = 2; open > 0; open--) {
      const page = await admin.get('/admin/security');
      const action = /<form method="post" action="(\/admin\/security\/alerts\/[^/]+\/acknowledge)">/.exec(page.html)![1]!;
      const done = await admin.post(action, {});
      assert.equal(done.status, 200);
      assert.match(textOf(done.html), /The alert was acknowledged/);
    }
    assert.doesNotMatch(textOf((await admin.get('/admin/users')).html), /security alert/i);
    assert.equal(await events('security.alert_acknowledged'), 2);
    assert.match(textOf((await admin.get('/admin/security')).html), /No open alerts\. Acknowledged in the last 7 days .* by root@example\.com/);

    // An hour later the sprayer is still at it: a new alert, and a new mail.
    clock.advance(HOUR + 60_000);
    await askReset('192.0.2.50', spray);
    assert.deepEqual((await lk.services.security.checkAlerts()).map((alert) => alert.subject), ['192.0.2.50']);
    assert.equal((await alertMails()).length, 4);
  });

  it('a failing mail server raises an alert once a fifth of at least ten deliveries failed in the hour', async () => {
    const at = clock.now() - 10 * 60_000;
    const outcome = (type: AuditType, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => recordAudit(lk.services.db, at, { ip: null }, { type, email: `user${i}@example.com` })));
    await outcome('mail.sent', 8);
    await outcome('mail.failed', 1);
    assert.deepEqual((await lk.services.security.checkAlerts()).filter((alert) => alert.kind === 'mail_failures'), [], '1 of 9: too few to judge');
    await outcome('mail.retrying', 2);
    const raised = (await lk.services.security.checkAlerts()).filter((alert) => alert.kind === 'mail_failures');
    assert.equal(raised.length, 1);
    assert.equal(raised[0]!.summary, '3 of 11 mail deliveries failed in the last hour (27%).');
    assert.ok((await alertMails()).some((mail) => mail.subject === 'Security alert: Mail delivery failing'));
  });

  it('one account asked for from many IP addresses, and a surge over the usual hour, raise their alerts', async () => {
    // A quiet week before (a request every hour), then a hundred in this one. The usual hour is worked out
    // once per clock hour: the week is written before the hour it is read in.
    clock.advance(HOUR);
    for (let hour = 2; hour < 168; hour++) await recordAudit(lk.services.db, clock.now() - hour * HOUR, { ip: '198.18.0.1' }, { type: 'reset.requested', email: 'steady@example.com' });
    for (let i = 1; i <= 10; i++) await askReset(`198.51.${i}.1`, ['cleo@example.com']);
    const kinds = (await lk.services.security.checkAlerts()).map((alert) => [alert.kind, alert.subject]);
    assert.deepEqual(kinds.filter(([kind]) => kind === 'targeted_account'), [['targeted_account', 'cleo@example.com']]);
    await askReset('198.18.0.2', Array.from({ length: 100 }, () => 'steady@example.com'));
    const surge = (await lk.services.security.checkAlerts()).filter((alert) => alert.kind === 'reset_surge');
    assert.equal(surge.length, 1);
    assert.match(surge[0]!.summary, /reset requests in the last hour; a usual hour of the last 7 days has 1\./);
  });

  it('two instances checking at once raise an alert once and mail it once', async () => {
    clock.advance(2 * HOUR);
    const other = await createServices(lk.services.config, clock, createLogger('silent'));
    try {
      await askReset('192.0.2.99', Array.from({ length: 20 }, (_, i) => `wide${i}@example.com`));
      const before = (await alertMails()).length;
      // On PostgreSQL at the same moment. SQLite runs one server per database, and in one process a second
      // writer's wait for the lock would block the first: there, one after the other.
      const [a, b] =
        dialectOf(lk.services.db) === 'postgres'
          ? await Promise.all([lk.services.security.checkAlerts(), other.security.checkAlerts()])
          : [await lk.services.security.checkAlerts(), await other.security.checkAlerts()];
      const spraying = [...a, ...b].filter((alert) => alert.kind === 'spraying');
      assert.deepEqual(spraying.map((alert) => alert.subject), ['192.0.2.99']);
      assert.equal((await alertMails()).length, before + 2, 'one mail to each of the two administrators');
    } finally {
      await other.close();
    }
  });

  it('only administrators see the Security page or acknowledge an alert', async () => {
    const person = new WebClient(lk.url);
    await person.get('/login');
    await person.post('/login', { email: 'plain@example.com', password: GOOD_PASSWORD });
    const page = await person.get('/admin/security');
    assert.equal(page.status, 403);
    assert.match(textOf(page.html), /This page is for administrators only/);
    const open = (await lk.services.security.openAlerts())[0]!;
    await person.get('/account');
    assert.equal((await person.post(`/admin/security/alerts/${open.id}/acknowledge`, {})).status, 403);
    assert.equal((await lk.services.security.openAlerts()).some((alert) => alert.id === open.id), true);
    const anonymous = await new WebClient(lk.url).get('/admin/security');
    assert.match(anonymous.url, /\/login\?next=%2Fadmin%2Fsecurity$/);
    // Acknowledging what is not open is a plain refusal, never a server error. (Hours have passed on the test's
    // clock: the administrator logs in again.)
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
    assert.equal(new URL((await admin.get('/admin/security')).url).pathname, '/admin/security');
    const missing = await admin.post('/admin/security/alerts/no-such-alert/acknowledge', {});
    assert.equal(missing.status, 404);
    assert.match(textOf(missing.html), /There is no such open alert/);
  });
});
