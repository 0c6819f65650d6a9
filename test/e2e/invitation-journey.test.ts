// In a real browser (Debian's Chromium): an administrator invites a person, who chooses a password from the mail
// and is logged in; later that person moves to a new address, which the old address can undo.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { startSmtpServer, type CapturedMail, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession, type BrowserSession } from '../support/browser.ts';

const CHOSEN = 'Amber-Orchard-39';

let browser: Browser;
let smtp: TestSmtpServer;
let lk: TestApp;

before(async () => {
  browser = await launchBrowser();
  smtp = await startSmtpServer();
  lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'http://accounts.example.test/' } });
  await lk.createUser({ email: 'admin@example.com', name: 'Ada Admin', admin: true });
});
after(async () => {
  await lk?.close();
  await smtp?.close();
  await browser?.close();
});

/** The link to `path` in the mail, checked to come from LATCHKEY_BASE_URL, opened on the test server. */
function linkIn(mail: CapturedMail, path: string): string {
  const match = new RegExp(`https?://\\S+/${path}/[A-Za-z0-9_-]{43}`).exec(mail.text);
  assert.ok(match, `a ${path} link in "${mail.subject}"`);
  const url = new URL(match[0]);
  assert.equal(url.origin + '/', lk.services.config.baseUrl.href, 'the link is built from LATCHKEY_BASE_URL');
  return new URL(url.pathname, lk.url).toString();
}

const pathOf = (page: Page) => new URL(page.url()).pathname + new URL(page.url()).search;
const heading = async (page: Page) => (await page.getByRole('heading', { level: 1 }).innerText()).trim();
const detail = (page: Page, term: string) => page.locator('dl.details').locator(`xpath=./dt[normalize-space()="${term}"]/following-sibling::dd[1]`);

async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForLoadState();
}

async function administrator(t: TestContext): Promise<BrowserSession> {
  const session = await openSession(browser, t, { baseURL: lk.url });
  await logIn(session.page, 'admin@example.com', GOOD_PASSWORD);
  await session.page.goto('/admin/users');
  return session;
}

const mailTo = (email: string, subject: string, after: number) =>
  smtp.waitForMail((m, i = smtp.mails.indexOf(m)) => i >= after && m.to.includes(email) && m.subject === subject, 10_000);

describe('invitations and address changes in the browser', () => {
  it('an administrator invites a person; a second invitation replaces the first; the person chooses a password and is logged in', { timeout: 60_000 }, async (t) => {
    const { page } = await administrator(t);
    await page.getByRole('link', { name: 'New User', exact: true }).click();
    await page.waitForURL('**/admin/users/new');
    await assertAccessible(page, 'the New User form');
    await page.getByLabel('Name', { exact: true }).fill('Iris Novak');
    await page.getByLabel('Email', { exact: true }).fill('iris.novak@example.com');
    const count = smtp.mails.length;
    await page.getByRole('button', { name: 'Create User', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=invited');
    assert.equal((await page.getByRole('status').innerText()).trim(), 'The user was created and an invitation was sent to iris.novak@example.com.');
    assert.equal(await detail(page, 'Status').innerText(), 'Invited');
    assert.equal(await detail(page, 'Email Verified').innerText(), 'No');
    await assertAccessible(page, 'an invited user\'s page');
    const first = await mailTo('iris.novak@example.com', "You're invited to Latchkey, Iris Novak", count);

    // "Resend Invitation" in the Action menu: a new mail, and the first link stops working.
    const resend = page.getByRole('link', { name: 'Resend Invitation', exact: true });
    // The menu opens on "Action" (a details element; the accessibility check may leave it open).
    if (!(await resend.isVisible())) await page.locator('summary', { hasText: /^Action$/ }).click();
    await resend.click();
    assert.equal(await heading(page), 'Resend Invitation');
    await assertAccessible(page, 'the Resend Invitation confirmation');
    const again = smtp.mails.length;
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=invitation-sent');
    assert.equal((await page.getByRole('status').innerText()).trim(), 'Invitation sent to iris.novak@example.com');
    const second = await mailTo('iris.novak@example.com', "You're invited to Latchkey, Iris Novak", again);

    // The users list: "Invited" filter, Status and Email Verified columns.
    await page.goto('/admin/users');
    await page.getByRole('checkbox', { name: 'Invited', exact: true }).check();
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL('**/admin/users?*filter=invited*');
    const row = page.getByRole('row').filter({ hasText: 'Iris Novak' });
    assert.match(await row.innerText(), /Invited/);
    assert.ok((await page.getByRole('columnheader', { name: 'Email Verified' }).count()) === 1);
    await assertAccessible(page, 'the users list filtered to invited users');

    // Iris opens the first mail's link: replaced.
    const iris = await openSession(browser, t, { baseURL: lk.url });
    iris.allowStatus(410);
    await iris.page.goto(linkIn(first, 'invitation'));
    assert.equal(await heading(iris.page), 'This link was replaced by a newer one');
    await assertAccessible(iris.page, 'a replaced invitation');

    // The newest works: "Choose Your Password", with the policy's fields.
    await iris.page.goto(linkIn(second, 'invitation'));
    assert.equal(pathOf(iris.page), '/invitation/new');
    assert.equal(await heading(iris.page), 'Choose Your Password');
    await assertAccessible(iris.page, 'the Choose Your Password page');
    await iris.page.getByLabel('New Password', { exact: true }).fill(CHOSEN);
    await iris.page.getByLabel('Confirm New Password', { exact: true }).fill(CHOSEN);
    await iris.page.getByRole('button', { name: 'Choose Password', exact: true }).click();
    await iris.page.waitForURL('**/account?notice=password-chosen');
    assert.equal(await heading(iris.page), 'Your account');
    assert.equal(await iris.page.getByTestId('account-email').innerText(), 'iris.novak@example.com');
    await assertAccessible(iris.page, 'the account page after an invitation');

    await page.goto(`/admin/users?q=iris`);
    assert.match(await page.getByRole('row').filter({ hasText: 'Iris Novak' }).innerText(), /Active/);
  });

  it('a person moves to a new address: confirmed from the new address, the old one told and able to undo it', { timeout: 60_000 }, async (t) => {
    await lk.createUser({ email: 'milo.berg@example.com', name: 'Milo Berg' });
    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });
    await logIn(page, 'milo.berg@example.com', GOOD_PASSWORD);
    assert.equal(pathOf(page), '/account');

    allowStatus(400);
    await page.getByLabel('New Email', { exact: true }).fill('milo@newmail.example.org');
    await page.getByLabel('Your Password', { exact: true }).fill('Not-The-Password-1');
    await page.getByRole('button', { name: 'Change Email', exact: true }).click();
    await page.waitForLoadState();
    assert.equal((await page.getByRole('alert').innerText()).trim(), 'The current password is not correct.');
    await assertAccessible(page, 'the account page with a refused email change');

    const count = smtp.mails.length;
    await page.getByLabel('New Email', { exact: true }).fill('milo@newmail.example.org');
    await page.getByLabel('Your Password', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Change Email', exact: true }).click();
    await page.waitForURL('**/account?notice=email-change-sent');
    assert.equal(await page.getByTestId('account-email').innerText(), 'milo.berg@example.com', 'nothing changes before the confirmation');

    const confirmation = await mailTo('milo@newmail.example.org', 'Confirm your new email address', count);
    const notice = await mailTo('milo.berg@example.com', 'Your email address is being changed', count);
    assert.match(notice.text, /milo@newmail\.example\.org/);

    await page.goto(linkIn(confirmation, 'confirm-email'));
    assert.equal(pathOf(page), '/confirm-email/confirm');
    assert.equal(await heading(page), 'Confirm Your New Email Address');
    await assertAccessible(page, 'the confirm new address page');
    await page.getByRole('button', { name: 'Confirm Email Address', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Email address changed');
    await page.goto('/account');
    assert.equal(await page.getByTestId('account-email').innerText(), 'milo@newmail.example.org');

    // From the old address's mail: undo. The address comes back and every session ends.
    const oldMailbox = await openSession(browser, t, { baseURL: lk.url });
    await oldMailbox.page.goto(linkIn(notice, 'undo-email-change'));
    assert.equal(await heading(oldMailbox.page), 'Undo Email Change');
    await assertAccessible(oldMailbox.page, 'the Undo Email Change page');
    await oldMailbox.page.getByRole('button', { name: 'Undo Email Change', exact: true }).click();
    await oldMailbox.page.waitForLoadState();
    assert.equal(await heading(oldMailbox.page), 'Email change undone');
    await assertAccessible(oldMailbox.page, 'the change undone page');

    await page.goto('/account');
    assert.ok(pathOf(page).startsWith('/login'), 'the session that made the change has ended');
    await logIn(page, 'milo.berg@example.com', GOOD_PASSWORD);
    assert.equal(pathOf(page), '/account');
    assert.equal(await page.getByTestId('account-email').innerText(), 'milo.berg@example.com');
  });
});
