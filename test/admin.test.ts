// The administration console over HTTP: users list, a user's actions, bulk reset, audit log and its CSV.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';

describe('administration console', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let admin: WebClient;
  let adminId: string;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url });
    adminId = (await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true })).id;
    for (const [email, name] of [
      ['elodie@example.com', 'Élodie Durand'],
      ['bob.smith@example.com', 'Bob Smith'],
      ['carol@example.org', 'Carol Jones'],
      ['dave@example.org', 'Dave Smithers'],
    ] as const) {
      await lk.createUser({ email, name });
    }
    admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  const listed = (html: string) => [...html.matchAll(/<a href="\/admin\/users\/[0-9a-f-]{36}">([^<]+)<\/a>/g)].map((m) => m[1]);
  const userId = async (email: string) => (await lk.services.users.findByTypedEmail(email))!.id;

  it('the users list searches any part of a name or email, case-insensitively, and keeps the query in the URL', async () => {
    let page = await admin.get('/admin/users?q=SMITH');
    const text = textOf(page.html);
    assert.match(text, /Bob Smith/);
    assert.match(text, /Dave Smithers/);
    assert.doesNotMatch(text, /Carol Jones/);
    assert.match(text, /2 users in all/);
    page = await admin.get('/admin/users?q=%C3%89LODIE');
    assert.match(textOf(page.html), /Élodie Durand/);
    page = await admin.get('/admin/users?q=example.org&sort=name&dir=desc');
    assert.deepEqual(listed(page.html), ['Dave Smithers', 'Carol Jones']);
    for (const header of ['Name', 'Email', 'Role', 'Status', 'Last Login', 'Password Changed', 'Reset Pending']) {
      assert.ok(page.html.includes(`>${header}`), `column ${header}`);
    }
  });

  it('filters: administrators, never logged in, reset pending, archived', async () => {
    assert.deepEqual(listed((await admin.get('/admin/users?filter=admins')).html), ['Ada Admin']);
    const never = listed((await admin.get('/admin/users?filter=never-logged-in')).html);
    assert.ok(!never.includes('Ada Admin') && never.includes('Bob Smith'));
    await lk.services.recovery.sendInstructions(await userId('carol@example.org'), { userId: adminId }, 'admin');
    assert.deepEqual(listed((await admin.get('/admin/users?filter=reset-pending')).html), ['Carol Jones']);
    assert.deepEqual(listed((await admin.get('/admin/users?filter=active&filter=admins')).html), ['Ada Admin']);
  });

  it('Action → Send Password Reset Instructions → Confirm sends the mail and says so', async () => {
    const id = await userId('bob.smith@example.com');
    let page = await admin.get(`/admin/users/${id}`);
    assert.match(page.html, /<summary[^>]*>Action<\/summary>/);
    assert.match(page.html, /Send Password Reset Instructions/);
    page = await admin.get(`/admin/users/${id}/send-reset`);
    assert.match(textOf(page.html), /Confirm/);
    assert.match(textOf(page.html), /Cancel/);
    page = await admin.post(`/admin/users/${id}/send-reset`, {});
    assert.match(textOf(page.html), /Password reset instructions sent to bob\.smith@example\.com/);
    const mail = await smtp.waitForMail((m) => m.to.includes('bob.smith@example.com'));
    assert.equal(mail.subject, 'Password reset for Bob Smith');
    assert.match(mail.text, /An administrator sent you/);
    const audit = await lk.services.db.selectFrom('audit_events').selectAll().where('type', '=', 'reset.link_issued').where('user_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(audit.actor_id, adminId, 'the audit log names the acting administrator');
  });

  it('creating a user validates like the command line; the email is unique case-insensitively', async () => {
    await admin.get('/admin/users/new');
    let page = await admin.post('/admin/users', { name: 'Eve', email: 'BOB.SMITH@example.com', role: 'user', password: '' });
    assert.equal(page.status, 409);
    assert.match(textOf(page.html), /This email is already used by another user/);
    page = await admin.post('/admin/users', { name: 'Eve', email: 'not-an-email', role: 'user', password: '' });
    assert.equal(page.status, 400);
    page = await admin.post('/admin/users', { name: 'Eve Example', email: 'eve@example.com', role: 'user', password: '' });
    assert.equal(page.status, 200);
    assert.match(textOf(page.html), /The user was created/);
  });

  it('changing a user\'s email voids the outstanding link; archiving refuses the action and logins', async () => {
    const id = await userId('dave@example.org');
    const link = await lk.services.recovery.linkForHand(id, { userId: adminId });
    let page = await admin.get(`/admin/users/${id}`);
    page = await admin.post(`/admin/users/${id}`, { name: 'Dave Smithers', email: 'dave.new@example.org', role: 'user' });
    assert.match(textOf(page.html), /The changes were saved/);
    const opened = await new WebClient(lk.url).get(new URL(link.link).pathname);
    assert.match(textOf(opened.html), /This link is not valid/);

    page = await admin.post(`/admin/users/${id}/archive`, {});
    assert.match(textOf(page.html), /archived/);
    page = await admin.post(`/admin/users/${id}/send-reset`, {});
    assert.equal(page.status, 409);
    assert.match(textOf(page.html), /archived/);
    const login = new WebClient(lk.url);
    await login.get('/login');
    page = await login.post('/login', { email: 'dave.new@example.org', password: GOOD_PASSWORD });
    assert.equal(page.status, 401);
    page = await admin.post(`/admin/users/${id}/restore`, {});
    assert.match(textOf(page.html), /restored/);
  });

  it('bulk reset sends to the selected users and reports what was refused and why', async () => {
    const ids = [await userId('elodie@example.com'), await userId('carol@example.org')];
    const archived = await lk.createUser({ email: 'gone@example.com', name: 'Gone Away' });
    await lk.services.users.archive(archived.id, { userId: adminId });
    await admin.get('/admin/users');
    let page = await admin.request('POST', '/admin/users/bulk-reset', new URLSearchParams([['_csrf', admin.csrfToken()], ['scope', 'selected'], ...[...ids, archived.id].map((id): [string, string] => ['ids', id])]));
    assert.match(textOf(page.html), /Send password reset instructions to 3 users\?/);
    const confirmForm = page.html.slice(page.html.indexOf('action="/admin/users/bulk-reset"'));
    const form = new URLSearchParams([...confirmForm.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
    page = await admin.request('POST', '/admin/users/bulk-reset', form);
    const text = textOf(page.html);
    assert.match(text, /Queued for 2 users; refused for 1/);
    assert.match(text, /Gone Away <gone@example\.com>: gone@example\.com is archived/);
    await smtp.waitForMail((m) => m.to.includes('elodie@example.com'));
  });

  it('Set Password applies the policy, ends the user\'s sessions and notifies the user', async () => {
    const id = await userId('eve@example.com');
    let page = await admin.get(`/admin/users/${id}`);
    page = await admin.post(`/admin/users/${id}/password`, { password: 'short', confirmation: 'short' });
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /Use at least 8 characters/);
    page = await admin.post(`/admin/users/${id}/password`, { password: 'Brave-Otter-5150', confirmation: 'Brave-Otter-5150' });
    assert.match(textOf(page.html), /The password was set/);
    const mail = await smtp.waitForMail((m) => m.to.includes('eve@example.com') && m.subject === 'Your password was changed');
    assert.match(mail.text, /by an administrator/);
  });

  it('the audit log filters by user, event and time, and exports CSV', async () => {
    let page = await admin.get('/admin/audit?type=reset.requested');
    assert.equal(page.status, 200);
    const anon = new WebClient(lk.url);
    await anon.get('/reset-password');
    await anon.post('/reset-password', { email: 'Nobody.Here@Example.com' });
    await lk.services.worker.drain(); // the courier's pass records what came of the request
    page = await admin.get('/admin/audit?user=nobody.here%40example.com');
    assert.match(textOf(page.html), /Reset requested/);
    assert.match(textOf(page.html), /Nobody\.Here@Example\.com/, 'the address as typed');
    page = await admin.get('/admin/audit?from=2000-13-45');
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /must be a date/);
    const csv = await admin.get('/admin/audit.csv?user=bob.smith%40example.com');
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.match(csv.html.split('\r\n')[0]!, /^"time","event","type","user","by","ip","user agent","details"$/);
    assert.match(csv.html, /"reset\.link_issued","bob\.smith@example\.com","root@example\.com"/);
  });

  it('a user who is not an administrator is refused with a clear page', async () => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    await client.post('/login', { email: 'carol@example.org', password: GOOD_PASSWORD });
    for (const path of ['/admin/users', '/admin/audit', '/admin/mail-queue', '/admin/audit.csv']) {
      const page = await client.get(path);
      assert.equal(page.status, 403, path);
      assert.match(textOf(page.html), /for administrators only/);
    }
  });
});
