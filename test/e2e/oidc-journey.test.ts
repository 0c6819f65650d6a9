// "Sign in with Latchkey" in a real browser, through the example application in examples/sign-in-app: a forgotten
// password recovered without leaving the sign-in, a password change that ends the application's session, and sign-out;
// and the same example as a third-party application, through Latchkey's consent screen. axe on each of Latchkey's pages.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { cleanEnv, freePort } from '../support/net.ts';
import { COMMAND_LINE } from '../../src/modules/audit/audit.ts';
import { codeAt } from '../../src/modules/twostep/totp.ts';
import { heading, logIn } from '../support/pages.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/sign-in-app/server.mjs', import.meta.url));
const RESET_PASSWORD = 'Quiet-Lantern-77';
const CHANGED_PASSWORD = 'Amber-Orchard-58';

/** Starts the example application as a person would, `node examples/sign-in-app/server.mjs`, and waits until it listens. */
async function startExample(env: Record<string, string>): Promise<{ process: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [EXAMPLE], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = Date.now();
  while (!output.includes('Sign-in example at')) {
    if (child.exitCode !== null) throw new Error(`the example application exited: ${output}`);
    if (Date.now() - started > 10_000) throw new Error(`the example application did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { process: child, output: () => output };
}

describe('Sign in with Latchkey, in a browser, through the example application', () => {
  let browser: Browser;
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let example: Awaited<ReturnType<typeof startExample>>;
  let exampleUrl: string;

  before(async () => {
    browser = await launchBrowser();
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url });
    const port = await freePort();
    exampleUrl = `http://127.0.0.1:${port}`;
    const { application, secret } = await lk.services.applications.create(
      {
        name: 'Sign-in example',
        kind: 'confidential',
        firstParty: true,
        redirectUris: [`${exampleUrl}/callback`],
        postLogoutRedirectUris: [`${exampleUrl}/`],
        scopes: ['openid', 'profile', 'email', 'offline_access'],
      },
      COMMAND_LINE,
    );
    example = await startExample({
      LATCHKEY_ISSUER: lk.services.config.baseUrl.href,
      CLIENT_ID: application.id,
      CLIENT_SECRET: secret!,
      PORT: String(port),
    });
  });
  after(async () => {
    if (example && example.process.exitCode === null) {
      example.process.kill('SIGTERM');
      await once(example.process, 'exit');
    }
    await browser?.close();
    await lk?.close();
    await smtp?.close();
  });

  it('a person who forgot the password resets it while signing in, lands back signed in; a password change elsewhere signs the application out; "Sign out" goes through Latchkey', { timeout: 60_000 }, async (t) => {
    // The issuer, as the application knows it: LATCHKEY_BASE_URL (http://localhost:<port>/ in tests).
    const latchkey = lk.services.config.baseUrl.origin;
    const email = 'mira.santos@example.com';
    await lk.createUser({ email, name: 'Mira Santos' });

    // Mira opens the application and chooses "Sign in with Latchkey": Latchkey's login form, naming the application.
    const { page, allowStatus } = await openSession(browser, t);
    await page.goto(exampleUrl);
    await assertAccessible(page, "the example application's home page");
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/interaction/**`);
    assert.equal(await heading(page), 'Log in');
    await page.getByText('Log in to continue to Sign-in example.', { exact: true }).waitFor();
    await assertAccessible(page, "Latchkey's sign-in page for an application");

    // She does not remember her password: "Reset Password", then the link from the mail, in the same browser.
    await page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await page.waitForURL(`${latchkey}/reset-password?**`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await page.getByRole('heading', { name: 'Check your email', exact: true }).waitFor();
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && m.subject.startsWith('Password reset'), 10_000);
    await page.goto(resetLinkIn(mail));
    assert.equal(await heading(page), 'Choose a new password');
    await page.getByLabel('New Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByLabel('Confirm New Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByRole('button', { name: 'Change Password', exact: true }).click();

    // Back in the application, signed in: no second login form, no consent screen (a first-party application).
    await page.waitForURL(`${exampleUrl}/`);
    await page.getByText('Signed in as Mira Santos (mira.santos@example.com)', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    await page.getByText(/^Refreshed at /).waitFor();
    await page.getByText('Signed in as Mira Santos (mira.santos@example.com)', { exact: true }).waitFor();

    // On another computer she logs in to Latchkey and changes her password: every application's session ends.
    const elsewhere = await openSession(browser, t, { baseURL: latchkey });
    await elsewhere.page.goto('/login');
    await logIn(elsewhere.page, email, RESET_PASSWORD);
    await elsewhere.page.getByLabel('Current Password', { exact: true }).fill(RESET_PASSWORD);
    await elsewhere.page.getByLabel('New Password', { exact: true }).fill(CHANGED_PASSWORD);
    await elsewhere.page.getByLabel('Confirm New Password', { exact: true }).fill(CHANGED_PASSWORD);
    await elsewhere.page.getByRole('button', { name: 'Change Password', exact: true }).click();
    await elsewhere.page.getByText('Your password was changed. Every other session has been logged out.', { exact: true }).waitFor();

    // In the application, "Refresh" now finds the refresh token revoked: signed out.
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    const signedOut = await page.getByText(/^Signed out: /).innerText();
    t.diagnostic(`the example application says: ${signedOut}`);
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).waitFor();
    assert.equal(await page.getByText(/^Signed in as /).count(), 0);

    // Signing in again asks for the password (the Latchkey session in this browser ended with the change too).
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/interaction/**`);
    allowStatus(401);
    await logIn(page, email, RESET_PASSWORD);
    assert.deepEqual(await page.getByRole('alert').allInnerTexts(), ['Wrong email or password.']);
    await logIn(page, email, CHANGED_PASSWORD);
    await page.waitForURL(`${exampleUrl}/`);
    await page.getByText('Signed in as Mira Santos (mira.santos@example.com)', { exact: true }).waitFor();

    // "Sign out": Latchkey's logout confirmation, then back to the application, signed out.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/session/end**`);
    assert.equal(await heading(page), 'Log out');
    await page.getByText('Sign-in example asks to log you out. Log out of Latchkey too?', { exact: true }).waitFor();
    await assertAccessible(page, "Latchkey's logout confirmation");
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForURL(`${exampleUrl}/`);
    await page.getByText('Signed out.', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).waitFor();

    // And out of Latchkey too: the next sign-in asks for the password.
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/interaction/**`);
    await page.getByLabel('Password', { exact: true }).waitFor();
    assert.equal(example.process.exitCode, null, `the example application is still running: ${example.output()}`);
  });

  it('with an authenticator app: a reset while signing in still asks for the code, and so does the password; both go on to the application', { timeout: 60_000 }, async (t) => {
    const latchkey = lk.services.config.baseUrl.origin;
    const email = 'noor.two@example.com';
    const user = await lk.createUser({ email, name: 'Noor Two' });
    // Set up with the code of the step before (the window allows it): the codes of now and later stay unused.
    const { secret } = await lk.services.twoStep.newSetup(user);
    await lk.services.twoStep.enable(user, secret, codeAt(secret, Date.now() - 30_000), COMMAND_LINE);

    const { page } = await openSession(browser, t);
    await page.goto(exampleUrl);
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/interaction/**`);
    await page.getByRole('link', { name: 'Reset Password', exact: true }).click();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Reset Password', exact: true }).click();
    await page.getByRole('heading', { name: 'Check your email', exact: true }).waitFor();
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && m.subject.startsWith('Password reset'), 10_000);
    await page.goto(resetLinkIn(mail));
    await page.getByLabel('New Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByLabel('Confirm New Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByRole('button', { name: 'Change Password', exact: true }).click();

    // The mailbox alone is not enough: the second step, on Latchkey's page, then back to the application.
    await page.waitForURL(`${latchkey}/login/two-step`);
    await assertAccessible(page, 'the second step during an application\'s sign-in');
    await page.getByLabel('Verification code', { exact: true }).fill(codeAt(secret, Date.now()));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForURL(`${exampleUrl}/`);
    await page.getByText('Signed in as Noor Two (noor.two@example.com)', { exact: true }).waitFor();

    // Another browser signs in with the new password: the second step again, then the application.
    const { page: other } = await openSession(browser, t);
    await other.goto(exampleUrl);
    await other.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await other.waitForURL(`${latchkey}/oidc/interaction/**`);
    await logIn(other, email, RESET_PASSWORD);
    await other.waitForURL(`${latchkey}/login/two-step`);
    await other.getByLabel('Verification code', { exact: true }).fill(codeAt(secret, Date.now() + 30_000));
    await other.getByRole('button', { name: 'Verify', exact: true }).click();
    await other.waitForURL(`${exampleUrl}/`);
    await other.getByText('Signed in as Noor Two (noor.two@example.com)', { exact: true }).waitFor();
  });

  it('a third-party application: Latchkey\'s consent screen names what it asks for, "Allow" signs in, and "Sign out" confirms; both pages pass axe', { timeout: 60_000 }, async (t) => {
    const latchkey = lk.services.config.baseUrl.origin;
    const port = await freePort();
    const calendarUrl = `http://127.0.0.1:${port}`;
    const { application, secret } = await lk.services.applications.create(
      {
        name: 'Team Calendar',
        kind: 'confidential',
        firstParty: false,
        redirectUris: [`${calendarUrl}/callback`],
        postLogoutRedirectUris: [`${calendarUrl}/`],
        scopes: ['openid', 'profile', 'email', 'offline_access'],
      },
      COMMAND_LINE,
    );
    const calendar = await startExample({ LATCHKEY_ISSUER: lk.services.config.baseUrl.href, CLIENT_ID: application.id, CLIENT_SECRET: secret!, PORT: String(port) });
    t.after(async () => {
      if (calendar.process.exitCode !== null) return;
      calendar.process.kill('SIGTERM');
      await once(calendar.process, 'exit');
    });
    const email = 'noor.haddad@example.com';
    await lk.createUser({ email, name: 'Noor Haddad' });

    // Noor signs in to the calendar: the password, then what the calendar asks to see.
    const { page } = await openSession(browser, t);
    await page.goto(calendarUrl);
    await page.getByRole('link', { name: 'Sign in with Latchkey', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/interaction/**`);
    await logIn(page, email, GOOD_PASSWORD);
    assert.equal(await heading(page), 'Team Calendar wants to:');
    assert.deepEqual(await page.getByRole('main').getByRole('listitem').allInnerTexts(), [
      'know who you are on Latchkey',
      'see your name',
      'see your email address',
      'stay signed in when you are not using it',
    ]);
    await page.getByText('You are signed in to Latchkey as Noor Haddad (noor.haddad@example.com).', { exact: true }).waitFor();
    await assertAccessible(page, "Latchkey's consent screen for a third-party application");
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL(`${calendarUrl}/`);
    await page.getByText('Signed in as Noor Haddad (noor.haddad@example.com)', { exact: true }).waitFor();

    // "Sign out": Latchkey's logout confirmation names the calendar.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${latchkey}/oidc/session/end**`);
    assert.equal(await heading(page), 'Log out');
    await page.getByText('Team Calendar asks to log you out. Log out of Latchkey too?', { exact: true }).waitFor();
    await assertAccessible(page, "Latchkey's logout confirmation for a third-party application");
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForURL(`${calendarUrl}/`);
    await page.getByText('Signed out.', { exact: true }).waitFor();
    assert.equal(calendar.process.exitCode, null, `the example application is still running: ${calendar.output()}`);
  });
});
