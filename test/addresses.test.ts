// Invitations and confirmed addresses over HTTP, with a real SMTP server: the invitation's link rules, the Invited
// status and its filters, the user's own address change and its undo, administrators' requests to confirm, the API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { startSmtpServer, type CapturedMail, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';
import { ManualClock } from '../src/infra/clock.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { API_SCOPES } from '../src/modules/apikeys/apikeys.service.ts';
import { payloadOf } from '../src/modules/webhooks/events.ts';

const CHOSEN = 'Copper-Meadow-58';
const DAY = 86_400_000;

/** The path of the link to `page` in a mail's plain-text part (the mail carries the public base URL). */
function linkIn(mail: CapturedMail, page: 'invitation' | 'confirm-email' | 'undo-email-change' | 'reset-password'): string {
  const match = new RegExp(`https?://\\S+(/${page}/[A-Za-z0-9_-]{43})`).exec(mail.text);
  if (!match) throw new Error(`no ${page} link in mail "${mail.subject}"`);
  return match[1]!;
}

async function loggedIn(lk: TestApp, email: string, password = GOOD_PASSWORD): Promise<WebClient> {
  const client = new WebClient(lk.url);
  await client.get('/login');
  const page = await client.post('/login', { email, password });
  assert.ok(page.url.endsWith('/account') || page.url.includes('/admin'), `${email} logged in (${page.url})`);
  return client;
}

const listed = (html: string) => [...html.matchAll(/<a href="\/admin\/users\/[0-9a-f-]{36}">([^<]+)<\/a>/g)].map((m) => m[1]);

describe('invitations and confirmed addresses', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let admin: WebClient;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    admin = await loggedIn(lk, 'root@example.com');
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  const mailTo = (email: string, subject: RegExp | string, after = 0) =>
    smtp.waitForMail((m, i = smtp.mails.indexOf(m)) => i >= after && m.to.includes(email) && (typeof subject === 'string' ? m.subject === subject : subject.test(m.subject)));

  it('"New User" without a password invites: its own mail, status "Invited" until the password is chosen, then logged in and the address verified', async () => {
    await admin.get('/admin/users/new');
    let page = await admin.post('/admin/users', { name: 'Ivy Invitee', email: 'ivy@example.com', role: 'user', password: '' });
    assert.match(textOf(page.html), /The user was created and an invitation was sent to ivy@example\.com/);
    assert.match(textOf(page.html), /Status Invited/);
    assert.match(page.html, /Resend Invitation/);

    const mail = await mailTo('ivy@example.com', "You're invited to Latchkey, Ivy Invitee");
    assert.match(mail.text, /choose your password/i);
    assert.match(mail.text, /valid for 7 days and works once/);
    assert.ok(mail.html.length > 0);
    const link = linkIn(mail, 'invitation');

    assert.deepEqual(listed((await admin.get('/admin/users?filter=invited')).html), ['Ivy Invitee']);

    // Mail scanners open links: opening never uses it up.
    await new WebClient(lk.url).get(link);
    const browser = new WebClient(lk.url);
    page = await browser.get(link);
    assert.ok(page.url.endsWith('/invitation/new'), 'the token leaves the address bar');
    assert.match(textOf(page.html), /Choose Your Password/);
    assert.match(textOf(page.html), /New Password/);
    assert.match(textOf(page.html), /Confirm New Password/);

    page = await browser.post('/invitation/new', { password: 'short', confirmation: 'short' });
    assert.equal(page.status, 400, 'the policy applies');
    page = await browser.post('/invitation/new', { password: CHOSEN, confirmation: CHOSEN });
    assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
    assert.match(textOf(page.html), /Your password is set and you are logged in/);

    const user = await lk.services.users.findByEmail('ivy@example.com');
    assert.ok(user?.password_hash);
    assert.ok(user.email_verified_at !== null, 'using the emailed link proved the address');
    assert.deepEqual(listed((await admin.get('/admin/users?filter=invited')).html), []);
    const userPage = await admin.get(`/admin/users/${user.id}`);
    assert.match(textOf(userPage.html), /Status Active/);
    assert.doesNotMatch(userPage.html, /Resend Invitation/);

    const again = await new WebClient(lk.url).get(link);
    assert.equal(again.status, 410);
    assert.match(textOf(again.html), /This link has already been used/);
    const types = (await lk.services.audit.list({ userId: user.id, limit: 50 })).rows.map((row) => row.type);
    for (const type of ['user.created', 'invitation.sent', 'invitation.accepted', 'password.changed', 'login.succeeded']) assert.ok(types.includes(type), `audited ${type}`);
  });

  it('"Resend Invitation" replaces the earlier link (newest only); a user with a password is refused', async () => {
    const { user } = await lk.services.addresses.createUser({ email: 'rex@example.com', name: 'Rex Resent', role: 'user' }, COMMAND_LINE, 'cli');
    const first = linkIn(await mailTo('rex@example.com', /invited/), 'invitation');
    const count = smtp.mails.length;
    let page = await admin.get(`/admin/users/${user.id}/resend-invitation`);
    assert.match(textOf(page.html), /Send a new invitation to Rex Resent/);
    page = await admin.post(`/admin/users/${user.id}/resend-invitation`, {});
    assert.match(textOf(page.html), /Invitation sent to rex@example\.com/);
    const second = linkIn(await mailTo('rex@example.com', /invited/, count), 'invitation');
    assert.notEqual(first, second);
    const old = await new WebClient(lk.url).get(first);
    assert.equal(old.status, 410);
    assert.match(textOf(old.html), /This link was replaced by a newer one/);
    assert.equal((await new WebClient(lk.url).get(second)).status, 200);

    const withPassword = await lk.createUser({ email: 'pat@example.com', name: 'Pat Password' });
    await admin.get(`/admin/users/${withPassword.id}/resend-invitation`);
    page = await admin.post(`/admin/users/${withPassword.id}/resend-invitation`, {});
    assert.equal(page.status, 409);
    assert.match(textOf(page.html), /has already chosen a password/);
  });

  it('an invitation obeys the reset link rules: a password set another way voids it, and a reset link replaces it', async () => {
    const { user } = await lk.services.addresses.createUser({ email: 'vera@example.com', name: 'Vera Voided', role: 'user' }, COMMAND_LINE, 'cli');
    const invitation = linkIn(await mailTo('vera@example.com', /invited/), 'invitation');
    const count = smtp.mails.length;
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'admin');
    const reset = linkIn(await mailTo('vera@example.com', 'Password reset for Vera Voided', count), 'reset-password');
    let page = await new WebClient(lk.url).get(invitation);
    assert.equal(page.status, 410);
    assert.match(textOf(page.html), /This link was replaced by a newer one/);
    await lk.services.passwords.setByAdministrator(user, CHOSEN, CHOSEN, COMMAND_LINE);
    page = await new WebClient(lk.url).get(reset);
    assert.equal(page.status, 404, 'a password change voids the newest link too');
    assert.equal((await lk.services.users.list({ search: 'vera@', filters: ['invited'], limit: 5 })).rows.length, 0, 'no longer Invited');
  });

  it('a user changes their own address: nothing changes until the new address confirms; the old address is told and can undo it', async () => {
    const user = await lk.createUser({ email: 'cam@example.com', name: 'Cam Changer' });
    const cam = await loggedIn(lk, 'cam@example.com');
    await cam.get('/account');
    let page = await cam.post('/account/email', { email: 'cam.new@example.com', current: 'Wrong-Password-1' });
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /The current password is not correct/);
    page = await cam.post('/account/email', { email: 'root@example.com', current: GOOD_PASSWORD });
    assert.equal(page.status, 409, 'an address in use is refused');
    const count = smtp.mails.length;
    page = await cam.post('/account/email', { email: 'Cam.New@Example.com', current: GOOD_PASSWORD });
    assert.match(textOf(page.html), /A confirmation link was sent to your new address/);
    assert.equal((await lk.services.users.get(user.id))?.email, 'cam@example.com', 'not changed yet');

    const confirm = await mailTo('cam.new@example.com', 'Confirm your new email address', count);
    const notice = await mailTo('cam@example.com', 'Your email address is being changed', count);
    assert.match(notice.text, /cam\.new@example\.com/);
    const confirmLink = linkIn(confirm, 'confirm-email');
    const undoLink = linkIn(notice, 'undo-email-change');

    const browser = new WebClient(lk.url);
    page = await browser.get(confirmLink);
    assert.ok(page.url.endsWith('/confirm-email/confirm'));
    assert.match(textOf(page.html), /Confirm Your New Email Address/);
    assert.equal((await lk.services.users.get(user.id))?.email, 'cam@example.com', 'opening changes nothing');
    page = await browser.post('/confirm-email/confirm', {});
    assert.match(textOf(page.html), /Your account now uses cam\.new@example\.com/);
    const moved = await lk.services.users.get(user.id);
    assert.equal(moved?.email, 'cam.new@example.com');
    assert.ok(moved?.email_verified_at !== null);
    await loggedIn(lk, 'cam.new@example.com');
    assert.equal((await new WebClient(lk.url).get(confirmLink)).status, 410, 'the confirmation works once');

    // The undo link outlives the change it undoes.
    page = await browser.get(undoLink);
    assert.ok(page.url.endsWith('/undo-email-change/confirm'));
    assert.match(textOf(page.html), /keep cam@example\.com as the email address/);
    page = await browser.post('/undo-email-change/confirm', {});
    assert.match(textOf(page.html), /Your account uses cam@example\.com again, and every session was logged out/);
    assert.equal((await lk.services.users.get(user.id))?.email, 'cam@example.com');
    assert.ok((await cam.get('/account')).url.includes('/login'), 'every session ended');
    const types = (await lk.services.audit.list({ userId: user.id, limit: 50 })).rows.map((row) => row.type);
    for (const type of ['email.change_refused', 'email.change_requested', 'email.confirmed', 'user.updated', 'email.change_undone']) assert.ok(types.includes(type), `audited ${type}`);
  });

  it('an undo before the new address confirms calls the change off: the confirmation link stops working', async () => {
    await lk.createUser({ email: 'una@example.com', name: 'Una Undo' });
    const una = await loggedIn(lk, 'una@example.com');
    await una.get('/account');
    const count = smtp.mails.length;
    await una.post('/account/email', { email: 'una.else@example.com', current: GOOD_PASSWORD });
    const confirmLink = linkIn(await mailTo('una.else@example.com', 'Confirm your new email address', count), 'confirm-email');
    const undoLink = linkIn(await mailTo('una@example.com', 'Your email address is being changed', count), 'undo-email-change');
    const browser = new WebClient(lk.url);
    await browser.get(undoLink);
    await browser.post('/undo-email-change/confirm', {});
    const page = await new WebClient(lk.url).get(confirmLink);
    assert.equal(page.status, 404);
    assert.match(textOf(page.html), /This link is not valid/);
    assert.ok(await lk.services.users.findByEmail('una@example.com'));
  });

  it('administrators ask to confirm the address, one user or in bulk; "Email Verified" and "Unverified" follow', async () => {
    const one = await lk.createUser({ email: 'olga@example.com', name: 'Olga One' });
    const two = await lk.createUser({ email: 'bea@example.com', name: 'Bea Bulk' });
    const three = await lk.createUser({ email: 'cy@example.com', name: 'Cy Bulk' });
    let list = await admin.get('/admin/users?filter=unverified&q=example.com');
    assert.match(textOf(list.html), /Email Verified/);
    for (const name of ['Olga One', 'Bea Bulk', 'Cy Bulk']) assert.ok(listed(list.html).includes(name), `${name} is unverified`);

    let page = await admin.get(`/admin/users/${one.id}`);
    assert.match(page.html, /Ask to Confirm Email/);
    await admin.get(`/admin/users/${one.id}/confirm-email`);
    const count = smtp.mails.length;
    page = await admin.post(`/admin/users/${one.id}/confirm-email`, {});
    assert.match(textOf(page.html), /A request to confirm the address was sent to olga@example\.com/);
    const mail = await mailTo('olga@example.com', 'Please confirm your email address', count);
    const browser = new WebClient(lk.url);
    page = await browser.get(linkIn(mail, 'confirm-email'));
    assert.match(textOf(page.html), /Confirm Your Email Address/);
    assert.doesNotMatch(page.html, /type="password"/, 'the link only confirms');
    page = await browser.post('/confirm-email/confirm', {});
    assert.match(textOf(page.html), /olga@example\.com is confirmed/);
    list = await admin.get('/admin/users?filter=unverified&q=example.com');
    assert.ok(!listed(list.html).includes('Olga One'));

    // Bulk: the selected users, after a confirmation step.
    list = await admin.get('/admin/users?q=bulk');
    const selection = [['scope', 'selected'], ['ids', two.id], ['ids', three.id]];
    page = await admin.request('POST', '/admin/users/bulk-confirm-email', new URLSearchParams([['_csrf', admin.csrfToken()], ...selection]));
    assert.match(textOf(page.html), /Ask 2 users to confirm their email address/);
    const before = smtp.mails.length;
    page = await admin.request('POST', '/admin/users/bulk-confirm-email', new URLSearchParams([['_csrf', admin.csrfToken()], ...selection, ['confirmed', '1']]));
    assert.match(textOf(page.html), /Queued for 2 users; refused for 0/);
    await mailTo('bea@example.com', 'Please confirm your email address', before);
    await mailTo('cy@example.com', 'Please confirm your email address', before);
  });

  it('an administrator changing the address leaves it unverified and voids the links mailed to the old one', async () => {
    const user = await lk.createUser({ email: 'vic@example.com', name: 'Vic Voided' });
    const count = smtp.mails.length;
    await lk.services.addresses.askToConfirm(user.id, COMMAND_LINE, 'cli');
    const link = linkIn(await mailTo('vic@example.com', 'Please confirm your email address', count), 'confirm-email');
    await lk.services.users.update(user.id, { email: 'vic.other@example.com', name: 'Vic Voided', role: 'user' }, COMMAND_LINE);
    assert.equal((await new WebClient(lk.url).get(link)).status, 404);
    assert.equal((await lk.services.users.get(user.id))?.email_verified_at, null);
  });

  it('the API: create without a password invites; resend the invitation; ask to confirm', async () => {
    const key = (await lk.services.apiKeys.create({ name: 'Addresses', scopes: [...API_SCOPES], expiresAt: null }, COMMAND_LINE)).secret;
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${lk.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const count = smtp.mails.length;
    const created = await call('POST', '/api/v1/users', { email: 'api.invited@example.com', name: 'Api Invited' });
    assert.equal(created.status, 201);
    assert.equal(created.json.invited, true);
    assert.equal(created.json.email_verified_at, null);
    await mailTo('api.invited@example.com', /invited/, count);
    const resent = await call('POST', `/api/v1/users/${created.json.id}/invitation`);
    assert.equal(resent.status, 202);
    assert.equal(resent.json.sent_to, 'api.invited@example.com');
    assert.equal((await call('POST', `/api/v1/users/${created.json.id}/confirmation-request`)).status, 409, 'an invited user gets the invitation instead');

    const member = await lk.createUser({ email: 'api.member@example.com', name: 'Api Member' });
    assert.equal((await call('POST', `/api/v1/users/${member.id}/invitation`)).status, 409);
    const asked = await call('POST', `/api/v1/users/${member.id}/confirmation-request`);
    assert.equal(asked.status, 202);
    await mailTo('api.member@example.com', 'Please confirm your email address', count);
    const invitedList = await call('GET', '/api/v1/users?filter=invited&q=api.');
    assert.deepEqual(invitedList.json.data.map((user: { email: string }) => user.email), ['api.invited@example.com']);
  });
});

describe('invitation expiry and long-unverified addresses, with an injected clock', () => {
  const clock = new ManualClock();
  let lk: TestApp;
  before(async () => {
    lk = await startTestApp({ clock, startWorker: false, env: { LATCHKEY_INVITATION_TTL: '86400' } });
  });
  after(async () => {
    await lk.close();
  });

  const filtered = async (filter: string) => (await lk.services.users.list({ filters: [filter as never], limit: 50 })).rows.map((user) => user.email);

  it('an invitation is valid for LATCHKEY_INVITATION_TTL; one that ran out unused is "Invitation expired" until a new one is sent', async () => {
    const { user, invited } = await lk.services.addresses.createUser({ email: 'late@example.com', name: 'Lee Late', role: 'user' }, COMMAND_LINE, 'cli');
    assert.ok(invited);
    const message = await lk.services.db.selectFrom('mail_messages').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    const link = new URL(/https?:\/\/\S+\/invitation\/\S+/.exec(lk.services.outbox.render(message, true).text)![0]).pathname;
    assert.match(lk.services.outbox.render(message, false).text, /valid for 24 hours/);
    assert.deepEqual(await filtered('invitation-expired'), []);
    clock.advance(DAY - 1000);
    assert.equal((await new WebClient(lk.url).get(link)).status, 200);
    clock.advance(2000);
    const page = await new WebClient(lk.url).get(link);
    assert.equal(page.status, 410);
    assert.match(textOf(page.html), /This link has expired/);
    assert.match(textOf(page.html), /Ask your administrator to resend the invitation/);
    assert.deepEqual(await filtered('invitation-expired'), ['late@example.com']);
    assert.deepEqual(await filtered('invited'), ['late@example.com']);
    await lk.services.addresses.resendInvitation(user.id, COMMAND_LINE, 'cli');
    assert.deepEqual(await filtered('invitation-expired'), []);
  });

  it('"Unverified for over a year": unverified addresses of accounts older than a year', async () => {
    const old = await lk.createUser({ email: 'old@example.com', name: 'Old Unverified' });
    await lk.createUser({ email: 'proven@example.com', name: 'Old Proven' });
    clock.advance(366 * DAY);
    await lk.createUser({ email: 'new@example.com', name: 'New Unverified' });
    const proven = await lk.services.users.findByEmail('proven@example.com');
    await lk.services.db.updateTable('users').set({ email_verified_at: clock.now() }).where('id', '=', proven!.id).execute();
    const longUnverified = await filtered('unverified-year');
    assert.ok(longUnverified.includes(old.email));
    assert.ok(!longUnverified.includes('proven@example.com'));
    assert.ok(!longUnverified.includes('new@example.com'));
    assert.ok((await filtered('unverified')).includes('new@example.com'));
  });
});

describe('an invitation under required two-step verification', () => {
  let lk: TestApp;
  before(async () => {
    lk = await startTestApp({ startWorker: false, env: { LATCHKEY_TWO_STEP_REQUIRED: 'everyone' } });
  });
  after(async () => {
    await lk.close();
  });

  it('the password is chosen, but no session starts before the second step is set up, exactly as after a reset', async () => {
    const { user } = await lk.services.addresses.createUser({ email: 'tess@example.com', name: 'Tess Twostep', role: 'user' }, COMMAND_LINE, 'cli');
    const message = await lk.services.db.selectFrom('mail_messages').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    const link = new URL(/https?:\/\/\S+\/invitation\/\S+/.exec(lk.services.outbox.render(message, true).text)![0]).pathname;
    const browser = new WebClient(lk.url);
    await browser.get(link);
    const page = await browser.post('/invitation/new', { password: CHOSEN, confirmation: CHOSEN });
    assert.ok(new URL(page.url).pathname.startsWith('/login/two-step'), `sent to the second step (${page.url})`);
    assert.ok((await lk.services.users.get(user.id))?.password_hash, 'the password stands');
    assert.ok((await browser.get('/account')).url.includes('/login'), 'no session yet');
  });
});

describe('webhooks for invitations and addresses', () => {
  it('an invitation sent or accepted and an address confirmed become webhook events that name the account and nothing secret', () => {
    const user = { id: 'u1', email: 'ivy@example.com', name: 'Ivy', role: 'user' as const, status: 'active' as const };
    for (const type of ['invitation.sent', 'invitation.accepted', 'email.confirmed']) {
      const payload = payloadOf({ id: 1, at: Date.UTC(2026, 0, 1), type, user_id: 'u1', email: user.email, detail: JSON.stringify({ link: 'link-id' }) }, user);
      assert.deepEqual(payload, { type, timestamp: '2026-01-01T00:00:00.000Z', data: { user } });
    }
  });
});
