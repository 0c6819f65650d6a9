// What people do in a real browser (Debian's Chromium): get back in through a reset link, read it from the development mailbox, and manage sessions and admin access.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { BROKEN_BY_PASSWORD, DEFAULT_RULES } from '../support/contract.ts';
import { pathOf, heading, logIn } from '../support/pages.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';
const SCREENSHOT = '/tmp/latchkey-reset.png';

const RULES = DEFAULT_RULES;

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * The test app listens on a random port (startTestApp listens on port 0 whatever LATCHKEY_PORT says), so
 * the emailed link — built from LATCHKEY_BASE_URL, as it must be — cannot point at it. The tests check the
 * link's origin is the configured base URL, then open the same path and token on the test server.
 */
function onTestServer(link: string, lk: TestApp): string {
  const url = new URL(link);
  assert.equal(url.origin + '/', lk.services.config.baseUrl.href, 'the link is built from LATCHKEY_BASE_URL');
  return new URL(url.pathname + url.search, lk.url).toString();
}

async function choosePassword(page: Page, password: string, confirmation = password): Promise<void> {
  await page.getByLabel('New Password', { exact: true }).fill(password);
  await page.getByLabel('Confirm New Password', { exact: true }).fill(confirmation);
  await page.getByRole('button', { name: 'Change Password', exact: true }).click();
  await page.waitForLoadState();
}

describe('with a mail server', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'http://accounts.example.test/' } });
  });
  after(async () => {
    await lk?.close();
    await smtp?.close();
  });

  it('a person who forgot the password gets back in through the emailed link', { timeout: 30_000 }, async (t) => {
    const email = 'rosa.lind@example.com';
    await lk.createUser({ email, name: 'Rosa Lind' });

    // Earlier, Rosa logged in on another computer; that session must not survive the reset.
    const otherComputer = await openSession(browser, t, { baseURL: lk.url });
    await otherComputer.page.goto('/login');
    await logIn(otherComputer.page, email, GOOD_PASSWORD);
    assert.equal(pathOf(otherComputer.page), '/account');

    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/login');
    assert.equal(await heading(page), 'Log in');
    await page.getByLabel('Email', { exact: true }).waitFor();
    await page.getByLabel('Password', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
    await assertAccessible(page, 'the login page');

    // She does not remember the password: "Reset Password" below the form.
    await page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await page.waitForURL('**/reset-password');
    assert.equal(await heading(page), 'Reset Password');
    await assertAccessible(page, 'the reset request page');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await page.getByText('If an account exists for this address, password reset instructions have been sent to it.', { exact: true }).waitFor();
    assert.equal(await heading(page), 'Check your email');
    await assertAccessible(page, 'the "Check your email" page');

    // The mail arrives at the real SMTP server.
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && m.subject.startsWith('Password reset'), 10_000);
    assert.equal(mail.subject, 'Password reset for Rosa Lind');
    const link = onTestServer(resetLinkIn(mail), lk);

    // The link opens the "Choose a new password" page, with the token gone from the address bar.
    await page.goto(link);
    assert.equal(pathOf(page), '/reset-password/new');
    assert.equal(await heading(page), 'Choose a new password');
    await page.getByLabel('New Password', { exact: true }).waitFor();
    await page.getByLabel('Confirm New Password', { exact: true }).waitFor();
    await page.getByText('Your password needs:', { exact: true }).waitFor();
    assert.deepEqual(await page.locator('#rules').getByRole('listitem').allInnerTexts(), RULES);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await assertAccessible(page, 'the new password page');

    // A weak password is refused, and each rule it breaks is listed.
    allowStatus(400);
    await choosePassword(page, 'password');
    assert.equal(pathOf(page), '/reset-password/new');
    const refusal = page.getByRole('alert');
    assert.match(await refusal.innerText(), /^The password was not accepted:/);
    assert.deepEqual(await refusal.getByRole('listitem').allInnerTexts(), BROKEN_BY_PASSWORD);
    await assertAccessible(page, 'the new password page with a refused password');

    // A good one is accepted: she is logged in on her account page.
    await choosePassword(page, NEW_PASSWORD);
    assert.equal(pathOf(page), '/account?notice=password-changed');
    await page.getByText('Your password was changed. Every other session has been logged out.', { exact: true }).waitFor();
    assert.equal(await heading(page), 'Your account');
    assert.equal(await page.getByTestId('account-email').innerText(), email);
    await assertAccessible(page, 'the account page');

    const notice = await smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Your password was changed', 10_000);
    assert.ok(notice.text.length > 0);

    // The other computer's session has ended.
    await otherComputer.page.reload();
    assert.equal(pathOf(otherComputer.page), '/login?next=%2Faccount');

    // The old password no longer works; the new one does.
    const someoneElse = await openSession(browser, t, { baseURL: lk.url });
    await someoneElse.page.goto('/login');
    someoneElse.allowStatus(401);
    await logIn(someoneElse.page, email, GOOD_PASSWORD);
    assert.deepEqual(await someoneElse.page.getByRole('alert').allInnerTexts(), ['Wrong email or password.']);
    await logIn(someoneElse.page, email, NEW_PASSWORD);
    assert.equal(pathOf(someoneElse.page), '/account');

    // The link worked once: opened again, it says so and offers a new one.
    allowStatus(410);
    await page.goto(link);
    assert.equal(await heading(page), 'This link has already been used');
    await assertAccessible(page, 'a used link\'s page');
    await page.getByRole('link', { name: 'Request a new link', exact: true }).click();
    await page.waitForURL('**/reset-password');
    assert.equal(await heading(page), 'Reset Password');
  });
});

describe('with no mail server (development mailbox)', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp();
  });
  after(async () => {
    await lk?.close();
  });

  it('an administrator reads the reset mail in the development mailbox and the person completes the reset', { timeout: 30_000 }, async (t) => {
    await lk.createUser({ email: 'ada.admin@example.com', name: 'Ada Admin', admin: true });
    await lk.createUser({ email: 'noor.user@example.com', name: 'Noor Hassan' });

    // Noor asks for a link.
    const noor = await openSession(browser, t, { baseURL: lk.url });
    await noor.page.goto('/login');
    await noor.page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await noor.page.getByLabel('Email', { exact: true }).fill('noor.user@example.com');
    await noor.page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await noor.page.getByText('If an account exists for this address, password reset instructions have been sent to it.', { exact: true }).waitFor();

    // There is no mail server, so Ada looks in the development mailbox: Settings → Mail Queue.
    const ada = await openSession(browser, t, { baseURL: lk.url });
    await ada.page.goto('/login');
    await logIn(ada.page, 'ada.admin@example.com', GOOD_PASSWORD);
    await ada.page.getByRole('link', { name: 'Settings', exact: true }).click();
    await ada.page.waitForURL('**/admin/users');
    const settings = ada.page.getByRole('navigation', { name: 'Settings' });
    await settings.getByRole('link', { name: 'Mail Queue', exact: true }).click();
    await ada.page.waitForURL('**/admin/mail-queue');
    assert.equal(await heading(ada.page), 'Mail Queue');
    await ada.page.getByText(/development mailbox/i).first().waitFor();

    // The worker delivers to the mailbox in the background: she reloads until the message shows as sent.
    const row = ada.page.getByRole('row').filter({ hasText: 'noor.user@example.com' });
    const statusColumn = (await ada.page.getByRole('columnheader').allInnerTexts()).indexOf('Status');
    assert.ok(statusColumn >= 0, 'the queue has a Status column');
    const deadline = Date.now() + 10_000;
    while ((await row.getByRole('cell').nth(statusColumn).innerText()) !== 'Sent') {
      assert.ok(Date.now() < deadline, 'the reset mail reached the development mailbox within 10 s');
      await ada.page.waitForTimeout(100);
      await ada.page.reload();
    }
    await row.getByRole('link', { name: 'Password reset for Noor Hassan', exact: true }).click();
    await ada.page.waitForURL('**/admin/mail-queue/*');
    assert.equal(await heading(ada.page), 'Password reset for Noor Hassan');
    await ada.page.getByText(/development mailbox/i).first().waitFor();
    const shown = ada.page.getByRole('link', { name: /\/reset-password\// });
    assert.equal(await shown.count(), 1, 'the message shows one reset link');
    const link = onTestServer((await shown.getAttribute('href'))!, lk);

    // Ada passes the link on; Noor opens it in a fresh browser and chooses a new password.
    const fresh = await openSession(browser, t, { baseURL: lk.url });
    await fresh.page.goto(link);
    assert.equal(await heading(fresh.page), 'Choose a new password');
    await choosePassword(fresh.page, NEW_PASSWORD);
    assert.equal(pathOf(fresh.page), '/account?notice=password-changed');
    assert.equal(await fresh.page.getByTestId('account-email').innerText(), 'noor.user@example.com');
  });
});

describe('who may go where', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp();
    await lk.createUser({ email: 'grace.admin@example.com', name: 'Grace Admin', admin: true });
    await lk.createUser({ email: 'omar.user@example.com', name: 'Omar Farouk' });
  });
  after(async () => {
    await lk?.close();
  });

  it('a non-administrator is refused the administration pages with a clear message', async (t) => {
    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/login');
    await logIn(page, 'omar.user@example.com', GOOD_PASSWORD);
    assert.equal(await page.getByRole('link', { name: 'Settings', exact: true }).count(), 0, 'no Settings menu for a user');
    for (const path of ['/admin/users', '/admin/mail-queue']) {
      allowStatus(403);
      const response = await page.goto(path);
      assert.equal(response?.status(), 403, path);
      assert.equal(await heading(page), 'Not allowed');
      assert.equal(
        await page.getByRole('alert').innerText(),
        'This page is for administrators only. Your account does not have the Administrator role.',
      );
    }
    await page.getByRole('link', { name: 'Go to your account', exact: true }).click();
    await page.waitForURL('**/account');
  });

  it(
    'a non-administrator can log out from the refusal page',
    async (t) => {
      const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });
      await page.goto('/login');
      await logIn(page, 'omar.user@example.com', GOOD_PASSWORD);
      allowStatus(403);
      await page.goto('/admin/users');
      assert.equal(await heading(page), 'Not allowed');
      await page.getByRole('banner').getByRole('button', { name: 'Log out', exact: true }).click();
      await page.waitForLoadState();
      assert.equal(pathOf(page), '/login?notice=logged-out', `ended on "${await heading(page)}"`);
    },
  );

  it('an anonymous visitor is sent to /login and back to the page afterwards', async (t) => {
    const { page } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/admin/users');
    assert.equal(pathOf(page), '/login?next=%2Fadmin%2Fusers');
    await logIn(page, 'grace.admin@example.com', GOOD_PASSWORD);
    assert.equal(pathOf(page), '/admin/users');
    assert.equal(await heading(page), 'Users');
    await page.getByRole('cell', { name: 'omar.user@example.com', exact: true }).waitFor();
  });

  it('"Log out other sessions" ends the session in the other browser; "Log out" ends this one', async (t) => {
    const laptop = await openSession(browser, t, { baseURL: lk.url });
    const phone = await openSession(browser, t, { baseURL: lk.url });
    for (const { page } of [phone, laptop]) {
      await page.goto('/login');
      await logIn(page, 'omar.user@example.com', GOOD_PASSWORD);
      assert.equal(pathOf(page), '/account');
    }
    const sessions = laptop.page.getByRole('table').getByRole('row');
    const before = await sessions.count();
    assert.ok(before >= 3, 'a header row and at least the two sessions');
    await laptop.page.getByText('(this session)', { exact: true }).waitFor();

    await laptop.page.getByRole('button', { name: 'Log out other sessions', exact: true }).click();
    await laptop.page.getByText('Every other session has been logged out.', { exact: true }).waitFor();
    assert.equal(await sessions.count(), 2, 'a header row and this session');

    await phone.page.reload();
    assert.equal(pathOf(phone.page), '/login?next=%2Faccount');
    await laptop.page.reload();
    assert.equal(pathOf(laptop.page), '/account?notice=sessions-ended');

    await laptop.page.getByRole('banner').getByRole('button', { name: 'Log out', exact: true }).click();
    await laptop.page.getByText('You have been logged out.', { exact: true }).waitFor();
    assert.equal(pathOf(laptop.page), '/login?notice=logged-out');
    await laptop.page.goto('/account');
    assert.equal(pathOf(laptop.page), '/login?next=%2Faccount');
  });
});
