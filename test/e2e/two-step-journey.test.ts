// Two-step verification in a real browser (Debian's Chromium): an authenticator app set up from /account, a forgotten
// password recovered by mail that still asks for the app's code, a recovery code, and an administrator's removal —
// every new page checked with axe.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { ManualClock } from '../../src/infra/clock.ts';
import { codeAt } from '../../src/modules/twostep/totp.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { pathOf, heading, logIn } from '../support/pages.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';
const STEP = 30_000;

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function enterCode(page: Page, code: string): Promise<void> {
  await page.getByLabel('Verification code', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.waitForLoadState();
}

describe('two-step verification in the browser', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  // The app's clock, held still: the test plays the authenticator app with the same time.
  const clock = new ManualClock(Math.floor(Date.now() / STEP) * STEP + 5_000);

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ clock, smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'http://accounts.example.test/' } });
  });
  after(async () => {
    await lk?.close();
    await smtp?.close();
  });

  it('a person with an authenticator app who forgot the password gets back in by mail, and is still asked for the code', { timeout: 60_000 }, async (t) => {
    const email = 'ines.app@example.com';
    const user = await lk.createUser({ email, name: 'Ines App' });
    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });

    // Ines sets up her authenticator app from her account page.
    await page.goto('/login');
    await logIn(page, email, GOOD_PASSWORD);
    await page.getByRole('heading', { name: 'Two-Step Verification', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Set Up Authenticator App', exact: true }).click();
    await page.waitForURL('**/account/two-step/authenticator');
    assert.equal(await heading(page), 'Set Up Authenticator App');
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    await assertAccessible(page, 'the set-up page');
    const secret = (await page.getByTestId('authenticator-secret').innerText()).replace(/\s/g, '');
    allowStatus(400);
    await enterCode(page, codeAt(secret, clock.now() + 5 * STEP));
    await page.getByRole('alert').getByText(/That code does not match/).waitFor();
    await assertAccessible(page, 'the set-up page with a wrong code');
    await enterCode(page, codeAt(secret, clock.now()));
    assert.equal(pathOf(page), '/account/two-step/recovery-codes');
    assert.equal(await heading(page), 'Your recovery codes');
    const codes = await page.getByTestId('recovery-codes').getByRole('listitem').allInnerTexts();
    assert.equal(codes.length, 10);
    await assertAccessible(page, 'the recovery codes page');
    await page.getByRole('link', { name: 'Continue', exact: true }).click();
    assert.equal(pathOf(page), '/account');
    assert.equal(await page.getByTestId('recovery-codes-left').innerText(), '10');
    await assertAccessible(page, 'the account page with two-step verification on');
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForLoadState();

    // She forgets the password and resets it by mail.
    clock.advance(STEP);
    await page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await page.getByText('If an account exists for this address, password reset instructions have been sent to it.', { exact: true }).waitFor();
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && m.subject.startsWith('Password reset'), 10_000);
    await page.goto(new URL(new URL(resetLinkIn(mail)).pathname, lk.url).toString());
    await page.getByLabel('New Password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirm New Password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change Password', exact: true }).click();
    await page.waitForLoadState();

    // The password is changed, but the mailbox alone does not let her in: the second step comes first.
    assert.equal(pathOf(page), '/login/two-step');
    assert.equal(await heading(page), 'Two-Step Verification');
    await page.getByText('Your password was changed. Your account has two-step verification: pass it to sign in.', { exact: true }).waitFor();
    await assertAccessible(page, 'the second step after a reset');
    assert.equal((await lk.services.sessions.list(user.id)).length, 0, 'no session yet');
    await smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Your password was changed', 10_000);

    allowStatus(401);
    await enterCode(page, codeAt(secret, clock.now() - 3 * STEP));
    await page.getByRole('alert').getByText(/That code is not correct/).waitFor();
    await assertAccessible(page, 'the second step with a wrong code');
    await page.getByRole('link', { name: 'Use a recovery code', exact: true }).click();
    assert.equal(await heading(page), 'Use a recovery code');
    await assertAccessible(page, 'the recovery code page');
    await page.getByRole('link', { name: 'Use the authenticator app instead', exact: true }).click();
    await enterCode(page, codeAt(secret, clock.now()));
    assert.equal(pathOf(page), '/account?notice=password-changed');
    assert.equal(await heading(page), 'Your account');
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForLoadState();

    // Later she loses her phone: a recovery code lets her in once.
    await logIn(page, email, NEW_PASSWORD);
    await page.getByRole('link', { name: 'Use a recovery code', exact: true }).click();
    await page.getByLabel('Recovery code', { exact: true }).fill(codes[0]!);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/account');
    assert.equal(await page.getByTestId('recovery-codes-left').innerText(), '9');
  });

  it('an administrator removes two-step verification from a person who lost every way in', { timeout: 60_000 }, async (t) => {
    const admin = await lk.createUser({ email: 'ada.admin@example.com', name: 'Ada Admin', admin: true });
    const user = await lk.createUser({ email: 'lost.all@example.com', name: 'Lost All' });
    const { page: own } = await openSession(browser, t, { baseURL: lk.url });
    await own.goto('/login');
    await logIn(own, 'lost.all@example.com', GOOD_PASSWORD);
    const setup = await lk.services.twoStep.newSetup(user);
    await lk.services.twoStep.enable(user, setup.secret, codeAt(setup.secret, clock.now()), { userId: user.id });

    const { page } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/login');
    await logIn(page, admin.email, GOOD_PASSWORD);
    await page.goto('/admin/users?filter=two-step-on');
    await page.getByRole('link', { name: 'Lost All', exact: true }).click();
    await page.getByTestId('two-step-methods').getByText(/Authenticator app/).waitFor();
    await page.getByText('Action', { exact: true }).click();
    await page.getByRole('link', { name: 'Remove Two-Step Verification', exact: true }).click();
    assert.equal(await heading(page), 'Remove Two-Step Verification');
    await assertAccessible(page, 'the removal confirmation');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForLoadState();
    await page.getByText('Two-step verification was removed from lost.all@example.com. Every session of the user has ended and the user was told by email.', { exact: true }).waitFor();
    assert.equal(await page.getByTestId('two-step-methods').innerText(), 'Off');
    await assertAccessible(page, "the user's page after the removal");
    await smtp.waitForMail((m) => m.to.includes('lost.all@example.com') && m.subject === 'Two-step verification was removed from your account', 10_000);
    await own.reload();
    assert.equal(new URL(own.url()).pathname, '/login', "the person's session ended");
  });

  it('an administrator required to have it is led to set it up at login', { timeout: 60_000 }, async (t) => {
    const required = await startTestApp({ clock, env: { LATCHKEY_TWO_STEP_REQUIRED: 'admins' }, startWorker: false });
    try {
      await required.createUser({ email: 'new.boss@example.com', name: 'New Boss', admin: true });
      const { page } = await openSession(browser, t, { baseURL: required.url });
      await page.goto('/login?next=%2Fadmin%2Fusers');
      await logIn(page, 'new.boss@example.com', GOOD_PASSWORD);
      assert.equal(pathOf(page), '/login/two-step');
      await page.getByText('Your organisation requires two-step verification for your account. Set it up now to continue.', { exact: true }).waitFor();
      await assertAccessible(page, 'the required set-up at login');
      const secret = (await page.getByTestId('authenticator-secret').innerText()).replace(/\s/g, '');
      await enterCode(page, codeAt(secret, clock.now()));
      assert.equal(pathOf(page), '/account/two-step/recovery-codes');
      await page.getByRole('link', { name: 'Continue', exact: true }).click();
      assert.equal(pathOf(page), '/admin/users');
    } finally {
      await required.close();
    }
  });
});
