// Bounces in a real browser (Debian's Chromium): an administrator finds the bounced mail in the Mail Queue and the
// undeliverable user with the list's filter, reads why on the user's page — each page checked with axe.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import nodemailer from 'nodemailer';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { waitFor } from '../support/wait.ts';
import { COMMAND_LINE } from '../../src/modules/audit/audit.ts';

const ADMIN = { email: 'ines.admin@example.org', name: 'Ines Admin' };

/** The DSN the recipient's server sends back to the mail's return path. */
function hardBounce(to: string): string {
  return [
    'From: MAILER-DAEMON@mx.example.net',
    `To: ${to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="R"',
    '',
    '--R',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    'Final-Recipient: rfc822; olaf@example.net',
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 <olaf@example.net>: mailbox unavailable',
    '',
    '--R--',
    '',
  ].join('\r\n');
}

describe('bounces in the console', () => {
  let browser: Browser;
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let userId: string;

  before(async () => {
    [browser, smtp] = await Promise.all([launchBrowser(), startSmtpServer()]);
    lk = await startTestApp({
      smtpUrl: smtp.url,
      env: { LATCHKEY_MAIL_FROM: 'Accounts <accounts@example.org>', LATCHKEY_BOUNCE_DOMAIN: 'bounces.example.org', LATCHKEY_BOUNCE_LISTEN: '127.0.0.1:0' },
    });
    await lk.services.bounceListener!.start();
    await lk.createUser({ ...ADMIN, admin: true });
    userId = (await lk.createUser({ email: 'olaf@example.net', name: 'Olaf Away' })).id;
    await lk.services.recovery.sendInstructions(userId, COMMAND_LINE, 'cli');
    const mail = await smtp.waitForMail((m) => m.to.includes('olaf@example.net'));
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: lk.services.bounceListener!.port, secure: false, ignoreTLS: true });
    await transport.sendMail({ envelope: { from: '', to: mail.from }, raw: hardBounce(mail.from) });
    transport.close();
    await waitFor('the bounce recorded', async () => (await lk.services.bounces.markOf('olaf@example.net')) !== null);
  });
  after(async () => {
    await lk.close();
    await smtp.close();
    await browser.close();
  });

  it('the administrator sees "Bounced" in the Mail Queue and finds the user with the "Undeliverable" filter', async (t) => {
    const { page } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL('**/account');

    await page.goto('/admin/mail-queue');
    await page.getByLabel('Status').selectOption({ label: 'Bounced' });
    await page.getByRole('button', { name: 'Show' }).click();
    const row = page.getByRole('row', { name: /olaf@example\.net/ });
    await assert.doesNotReject(row.getByRole('cell', { name: 'Bounced', exact: true }).waitFor());
    assert.match(await row.innerText(), /mailbox unavailable/);
    await assertAccessible(page, 'the Mail Queue with a bounced mail');

    await page.goto('/admin/users');
    await page.getByLabel('Undeliverable').check();
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Olaf Away' }).click();
    await page.waitForURL(`**/admin/users/${userId}`);
    assert.match(await page.getByTestId('email-delivery').innerText(), /^Undeliverable: mail to this address bounced .*mailbox unavailable/);
    await assertAccessible(page, 'the page of an undeliverable user');
  });
});
