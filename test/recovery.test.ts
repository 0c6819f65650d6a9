// The self-service reset, end to end over HTTP, with a real SMTP server receiving the mail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';

describe('self-service password reset', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'https://accounts.example.test/' } });
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  async function requestLink(email: string, client = new WebClient(lk.url)): Promise<string> {
    const before = smtp.mails.length;
    await client.get('/reset-password');
    const page = await client.post('/reset-password', { email });
    assert.equal(page.status, 200);
    const mail = await smtp.waitForMail((m, i = smtp.mails.indexOf(m)) => i >= before && m.to.includes(email.toLowerCase()));
    return resetLinkIn(mail);
  }

  /** The emailed link, opened against the test server (the mail carries the public base URL). */
  function local(link: string): string {
    return new URL(link).pathname;
  }

  it('known, unknown and archived addresses get the same page', async () => {
    await lk.createUser({ email: 'same.page@example.com', name: 'Sam Page' });
    const archived = await lk.createUser({ email: 'archived@example.com', name: 'Arch Ived' });
    await lk.services.db.updateTable('users').set({ status: 'archived' }).where('id', '=', archived.id).execute();
    const texts: string[] = [];
    for (const email of ['same.page@example.com', 'nobody@example.com', 'archived@example.com']) {
      const client = new WebClient(lk.url);
      await client.get('/reset-password');
      const page = await client.post('/reset-password', { email });
      assert.equal(page.status, 200);
      texts.push(textOf(page.html));
    }
    assert.equal(texts[0], texts[1]);
    assert.equal(texts[0], texts[2]);
    assert.match(texts[0]!, /If an account exists for this address, password reset instructions have been sent to it/);
    await smtp.waitForMail((m) => m.to.includes('same.page@example.com'));
    await lk.services.worker.drain();
    assert.equal(smtp.mails.filter((m) => m.to.includes('nobody@example.com') || m.to.includes('archived@example.com')).length, 0);
  });

  it('the reset email has the subject, both parts, one link from the base URL, the validity and what to do if unasked', async () => {
    await lk.createUser({ email: 'mail.reader@example.com', name: 'Mara Reader' });
    const link = await requestLink('MAIL.Reader@Example.com');
    const mail = smtp.mails.find((m) => m.to.includes('mail.reader@example.com'))!;
    assert.equal(mail.subject, 'Password reset for Mara Reader');
    assert.ok(mail.text.length > 0 && mail.html.length > 0, 'plain-text and HTML parts');
    assert.match(link, /^https:\/\/accounts\.example\.test\/reset-password\/[A-Za-z0-9_-]{43}$/);
    assert.match(mail.text, /valid for 24 hours and works once/);
    assert.match(mail.text, /If you did not ask for this/);
    assert.ok(mail.html.includes(link), 'the HTML part carries the same link');
    const token = link.split('/').pop()!;
    const stored = await lk.services.db.selectFrom('reset_links').select('token_hash').execute();
    assert.ok(stored.every((row) => row.token_hash !== token), 'only a hash of the token is stored');
    const queued = await lk.services.db.selectFrom('mail_messages').select(['params', 'sealed_token']).execute();
    assert.ok(queued.every((row) => !row.params.includes(token) && !(row.sealed_token ?? '').includes(token)), 'the queue never holds the token in the clear');
  });

  it('opening the link does not use it up; a refused password or a mismatch keeps it usable; success logs in, ends every other session and notifies', async () => {
    const user = await lk.createUser({ email: 'full.journey@example.com', name: 'Jo Journey' });
    const oldSession = new WebClient(lk.url);
    await oldSession.get('/login');
    await oldSession.post('/login', { email: 'full.journey@example.com', password: GOOD_PASSWORD });
    assert.equal((await oldSession.get('/account')).status, 200);

    const link = local(await requestLink('full.journey@example.com'));
    const scanner = new WebClient(lk.url);
    await scanner.get(link);
    await scanner.get(link);

    const browser = new WebClient(lk.url);
    let page = await browser.get(link);
    assert.equal(page.status, 200);
    assert.ok(page.url.endsWith('/reset-password/new'), 'the token leaves the address bar');
    assert.match(textOf(page.html), /New Password/);
    assert.match(textOf(page.html), /Confirm New Password/);
    assert.match(textOf(page.html), /At least 8 characters/);

    page = await browser.post('/reset-password/new', { password: 'password', confirmation: 'password' });
    assert.equal(page.status, 400);
    const text = textOf(page.html);
    for (const rule of ['Add an upper-case letter.', 'Add a digit.', 'Add a special character', 'This password is too common']) {
      assert.ok(text.includes(rule), `lists "${rule}"`);
    }
    page = await browser.post('/reset-password/new', { password: 'Jo-Journey-2026', confirmation: 'Jo-Journey-2026' });
    assert.match(textOf(page.html), /Do not use your name or email address/);
    page = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD + 'x' });
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /The two passwords do not match/);

    page = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(page.status, 200);
    assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
    assert.match(textOf(page.html), /full\.journey@example\.com/);

    const old = await oldSession.get('/account');
    assert.ok(old.url.includes('/login'), 'the old session has ended');
    const notice = await smtp.waitForMail((m) => m.to.includes('full.journey@example.com') && m.subject === 'Your password was changed');
    assert.ok(notice.text.includes('changed'));

    const login = new WebClient(lk.url);
    await login.get('/login');
    page = await login.post('/login', { email: 'full.journey@example.com', password: GOOD_PASSWORD });
    assert.equal(page.status, 401, 'the old password no longer works');
    page = await login.post('/login', { email: 'full.journey@example.com', password: NEW_PASSWORD });
    assert.ok(page.url.includes('/account'));

    page = await new WebClient(lk.url).get(link);
    assert.equal(page.status, 410);
    assert.match(textOf(page.html), /This link has already been used/);
    assert.match(page.html, /href="\/reset-password"/);
    const events = await lk.services.db.selectFrom('audit_events').select('type').where('user_id', '=', user.id).execute();
    for (const type of ['reset.requested', 'reset.link_opened', 'reset.link_used', 'password.changed', 'mail.sent']) {
      assert.ok(events.some((e) => e.type === type), `audit has ${type}`);
    }
  });

  it('two simultaneous posts with one link give exactly one success', async () => {
    await lk.createUser({ email: 'racer@example.com', name: 'Rae Cer' });
    const link = local(await requestLink('racer@example.com'));
    const a = new WebClient(lk.url);
    await a.get(link);
    const b = new WebClient(lk.url);
    b.cookies.clear();
    for (const [name, value] of a.cookies) b.cookies.set(name, value);
    b.last = a.last;
    const [first, second] = await Promise.all([
      a.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD }),
      b.post('/reset-password/new', { password: 'Other-Lantern-88', confirmation: 'Other-Lantern-88' }),
    ]);
    const successes = [first, second].filter((p) => p.url.includes('/account') && p.status === 200);
    assert.equal(successes.length, 1, `statuses ${first.status} ${second.status}`);
    const loser = [first, second].find((p) => !successes.includes(p))!;
    assert.equal(loser.status, 410);
    assert.match(textOf(loser.html), /This link has already been used/);
  });

  it('only the newest link works: an older one says it was replaced', async () => {
    await lk.createUser({ email: 'twice@example.com', name: 'Tw Ice' });
    const first = local(await requestLink('twice@example.com'));
    const second = local(await requestLink('twice@example.com'));
    const page = await new WebClient(lk.url).get(first);
    assert.equal(page.status, 410);
    assert.match(textOf(page.html), /This link was replaced by a newer one/);
    assert.equal((await new WebClient(lk.url).get(second)).status, 200);
  });

  it('a password change from the account page voids an outstanding link and sends the notification', async () => {
    await lk.createUser({ email: 'voider@example.com', name: 'Vo Ider' });
    const link = local(await requestLink('voider@example.com'));
    const client = new WebClient(lk.url);
    await client.get('/login');
    await client.post('/login', { email: 'voider@example.com', password: GOOD_PASSWORD });
    const page = await client.post('/account/password', { current: GOOD_PASSWORD, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.match(textOf(page.html), /Your password was changed/);
    await smtp.waitForMail((m) => m.to.includes('voider@example.com') && m.subject === 'Your password was changed');
    const opened = await new WebClient(lk.url).get(link);
    assert.equal(opened.status, 404);
    assert.match(textOf(opened.html), /This link is not valid/);
  });

  it('a malformed or unknown token says the link is not valid, and offers a new one', async () => {
    for (const path of ['/reset-password/abc', '/reset-password/' + 'A'.repeat(43), '/reset-password/%0d%0aSet-Cookie:x=1', '/reset-password/new']) {
      const page = await new WebClient(lk.url).get(path);
      assert.equal(page.status, 404, path);
      assert.match(textOf(page.html), /This link is not valid/);
      assert.match(page.html, /Request a new link/);
    }
  });
});
