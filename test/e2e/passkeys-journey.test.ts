// Passkeys in a real browser (Debian's Chromium) with the DevTools protocol's virtual authenticator: two passkeys
// added from /account and one removed, the second step with a passkey, logging in with a passkey alone, and a
// forgotten password recovered by mail that still asks for the passkey — every new page checked with axe.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { pathOf, heading, logIn } from '../support/pages.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function logOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForURL('**/login?notice=logged-out');
}

/** A platform authenticator (like a laptop's fingerprint reader) that holds discoverable passkeys and verifies the person. */
async function addAuthenticator(cdp: CDPSession): Promise<string> {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return authenticatorId;
}

/** Clicks a passkey button and waits for the page the form's post leads to (the ceremony runs in between). */
async function usePasskey(page: Page, button: string, from: string): Promise<void> {
  await page.getByRole('button', { name: button, exact: true }).click();
  await page.waitForURL((url) => url.pathname + url.search !== from);
  await page.waitForLoadState();
}

async function passkeyNames(page: Page): Promise<string[]> {
  return (await page.getByTestId('passkeys').locator('tbody tr td:first-child').allInnerTexts()).map((name) => name.trim());
}

describe('passkeys in the browser', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let origin: string;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url });
    // Passkeys belong to a domain, never an IP address: the browser goes to localhost, the default base URL's host.
    origin = lk.url.replace('127.0.0.1', 'localhost');
  });
  after(async () => {
    await lk?.close();
    await smtp?.close();
  });

  it('a person adds two passkeys and removes one, passes the second step and logs in with a passkey alone, and after a reset by mail is still asked for it', { timeout: 90_000 }, async (t) => {
    const email = 'pia.passkey@example.com';
    const user = await lk.createUser({ email, name: 'Pia Passkey' });
    const { page } = await openSession(browser, t, { baseURL: origin });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const laptop = await addAuthenticator(cdp);

    // Pia adds a passkey on her old laptop: her first method, so recovery codes come with it.
    await page.goto('/login');
    await logIn(page, email, GOOD_PASSWORD);
    await page.getByRole('heading', { name: 'Two-Step Verification', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Add a Passkey', exact: true }).click();
    await page.waitForURL('**/account/two-step/passkey');
    assert.equal(await heading(page), 'Add a Passkey');
    await assertAccessible(page, 'the Add a Passkey page');
    await page.getByLabel('Passkey name', { exact: true }).fill('Old laptop');
    await usePasskey(page, 'Add a Passkey', '/account/two-step/passkey');
    assert.equal(pathOf(page), '/account/two-step/recovery-codes');
    assert.equal((await page.getByTestId('recovery-codes').getByRole('listitem').allInnerTexts()).length, 10);
    await page.getByRole('link', { name: 'Continue', exact: true }).click();
    assert.deepEqual(await passkeyNames(page), ['Old laptop']);

    // Her phone next, for logging in without a password; the old laptop is gone.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop });
    await addAuthenticator(cdp);
    await page.getByRole('link', { name: 'Add a Passkey', exact: true }).click();
    await page.getByLabel('Passkey name', { exact: true }).fill('Phone');
    await page.getByLabel('Use this passkey to log in without a password', { exact: true }).check();
    await usePasskey(page, 'Add a Passkey', '/account/two-step/passkey');
    assert.equal(pathOf(page), '/account?notice=passkey-added', 'no new recovery codes for a second passkey');
    assert.deepEqual(await passkeyNames(page), ['Old laptop', 'Phone']);
    await assertAccessible(page, 'the account page with two passkeys');
    await page.getByRole('button', { name: 'Remove Old laptop', exact: true }).click();
    await page.waitForURL('**/account?notice=passkey-removed');
    assert.deepEqual(await passkeyNames(page), ['Phone']);
    assert.equal(await page.getByTestId('recovery-codes-left').innerText(), '10', 'two-step verification stays on with the phone');
    await logOut(page);

    // The password, then the passkey as the second step: no code form, for she has no app.
    await logIn(page, email, GOOD_PASSWORD);
    assert.equal(pathOf(page), '/login/two-step');
    assert.equal(await page.getByLabel('Verification code').count(), 0);
    await assertAccessible(page, 'the second step with a passkey');
    assert.equal((await lk.services.sessions.list(user.id)).length, 0, 'no session before the second step');
    await usePasskey(page, 'Use a passkey', '/login/two-step');
    assert.equal(pathOf(page), '/account');
    const [afterSecondStep] = await lk.services.sessions.list(user.id);
    assert.equal(afterSecondStep!.amr, 'pwd hwk mfa');
    await logOut(page);

    // The phone alone, from the login page.
    await assertAccessible(page, 'the login page with "Log in with a passkey"');
    await usePasskey(page, 'Log in with a passkey', '/login?notice=logged-out');
    assert.equal(pathOf(page), '/account');
    assert.equal(await heading(page), 'Your account');
    const [alone] = await lk.services.sessions.list(user.id);
    assert.equal(alone!.amr, 'hwk');
    await logOut(page);

    // She forgets the password: the mailbox alone does not let her in, the passkey is still asked for.
    await page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await page.getByText('If an account exists for this address, password reset instructions have been sent to it.', { exact: true }).waitFor();
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && m.subject.startsWith('Password reset'), 10_000);
    await page.goto(new URL(new URL(resetLinkIn(mail)).pathname, origin).toString());
    await page.getByLabel('New Password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirm New Password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change Password', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/login/two-step');
    await page.getByText('Your password was changed. Your account has two-step verification: pass it to sign in.', { exact: true }).waitFor();
    await assertAccessible(page, 'the second step with a passkey after a reset');
    assert.equal((await lk.services.sessions.list(user.id)).length, 0, 'no session yet');
    await usePasskey(page, 'Use a passkey', '/login/two-step');
    assert.equal(pathOf(page), '/account?notice=password-changed');

    const events = await lk.services.db.selectFrom('audit_events').select(['type', 'detail']).where('user_id', '=', user.id).orderBy('id').execute();
    const described = events.map((event) => `${event.type} ${event.detail ?? ''}`);
    assert.equal(described.filter((line) => line.startsWith('two_step.enabled') && line.includes('"method":"passkey"')).length, 2);
    assert.ok(described.some((line) => line.startsWith('two_step.passkey_removed') && line.includes('"name":"Old laptop"')));
    assert.equal(described.filter((line) => line.startsWith('two_step.used') && line.includes('"method":"passkey"')).length, 2);
    assert.ok(described.some((line) => line.startsWith('login.succeeded') && line.includes('"via":"passkey"')));
    assert.ok(described.some((line) => line.startsWith('login.succeeded') && line.includes('"via":"reset link"') && line.includes('"secondStep":"passkey"')));
  });
});
