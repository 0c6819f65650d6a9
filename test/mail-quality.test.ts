// Mail that spam filters trust: headers, parts, no tracking, a valid DKIM signature, and a SpamAssassin score below 1.0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type CapturedMail, type TestSmtpServer } from './support/smtp.ts';
import { WebClient } from './support/client.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { spamScore } from './support/spam.ts';
import { inLanguage } from '../src/infra/i18n.ts';
import { renderMail, type MailTemplate } from '../src/modules/mail/templates.ts';
import { messageSource } from '../src/modules/mail/transport.ts';

describe('mail quality', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let publicKey: string;
  let resetMail: CapturedMail;
  let noticeMail: CapturedMail;
  /** Part 9's mails: the invitation, the request to confirm, the confirmation of a new address and the notice to the old one. */
  let addressMails: CapturedMail[];

  before(async () => {
    smtp = await startSmtpServer();
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    publicKey = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyFile = path.join(process.env.TMPDIR ?? '/tmp', `latchkey-dkim-${process.pid}.pem`);
    writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    lk = await startTestApp({
      smtpUrl: smtp.url,
      env: {
        LATCHKEY_BASE_URL: 'https://accounts.example.com/',
        LATCHKEY_MAIL_FROM: 'Example Accounts <accounts@example.com>',
        LATCHKEY_DKIM_DOMAIN: 'example.com',
        LATCHKEY_DKIM_SELECTOR: 'latchkey',
        LATCHKEY_DKIM_PRIVATE_KEY_FILE: keyFile,
        // Each mail's envelope sender is its own return path at the bounce domain (VERP).
        LATCHKEY_BOUNCE_DOMAIN: 'bounces.example.com',
      },
    });
    await lk.createUser({ email: 'reader@example.net', name: 'Rita Reader' });
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    await client.post('/reset-password', { email: 'reader@example.net' });
    resetMail = await smtp.waitForMail((m) => m.subject === 'Password reset for Rita Reader');
    const browser = new WebClient(lk.url);
    await browser.get(new URL(resetLinkIn(resetMail)).pathname);
    await browser.post('/reset-password/new', { password: 'Silver-Maple-7788', confirmation: 'Silver-Maple-7788' });
    noticeMail = await smtp.waitForMail((m) => m.subject === 'Your password was changed');
    assert.notEqual(GOOD_PASSWORD, 'Silver-Maple-7788');

    await lk.services.addresses.createUser({ email: 'invitee@example.net', name: 'Ivo Invitee', role: 'user' }, COMMAND_LINE, 'admin');
    const reader = (await lk.services.users.findByEmail('reader@example.net'))!;
    await lk.services.addresses.askToConfirm(reader.id, COMMAND_LINE, 'admin');
    const account = new WebClient(lk.url);
    await account.get('/login');
    await account.post('/login', { email: 'reader@example.net', password: 'Silver-Maple-7788' });
    await account.get('/account');
    await account.post('/account/email', { email: 'rita.reader@example.org', current: 'Silver-Maple-7788' });
    addressMails = await Promise.all(
      ["You're invited to Latchkey, Ivo Invitee", 'Please confirm your email address', 'Confirm your new email address', 'Your email address is being changed'].map((subject) =>
        smtp.waitForMail((m) => m.subject === subject),
      ),
    );
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  it('each mail has a Message-ID, a Date, a proper From and text + HTML alternatives, without tracking or rewritten links', () => {
    for (const mail of [resetMail, noticeMail, ...addressMails]) {
      const headers = mail.parsed.headers;
      assert.match(String(headers.get('message-id')), /^<[^@\s]+@[^>\s]+>$/);
      assert.ok(headers.get('date') instanceof Date);
      assert.equal(mail.parsed.from?.value[0]?.address, 'accounts@example.com');
      assert.equal(mail.parsed.from?.value[0]?.name, 'Example Accounts');
      assert.match(mail.raw, /Content-Type: multipart\/alternative/i);
      assert.ok(mail.text.trim().length > 0 && mail.html.length > 0);
      assert.doesNotMatch(mail.html, /<img/i, 'no tracking pixel');
    }
    const link = resetLinkIn(resetMail);
    assert.ok(resetMail.html.includes(`href="${link}"`), 'the HTML link is the link itself, not a redirect');
  });

  it('the DKIM signature verifies against the public key', async () => {
    for (const mail of [resetMail, noticeMail, ...addressMails]) {
      const result = await dkimVerify(Buffer.from(mail.raw), {
        resolver: async (name: string, type: string) => {
          assert.equal(type, 'TXT');
          assert.equal(name, 'latchkey._domainkey.example.com');
          const p = publicKey.replace(/-----[^-]+-----|\s/g, '');
          return [[`v=DKIM1; k=rsa; p=${p}`]];
        },
      });
      const signature = result.results[0];
      assert.equal(signature?.status?.result, 'pass', JSON.stringify(signature?.status));
      assert.equal(signature?.signingDomain, 'example.com');
    }
  });

  it('SpamAssassin scores the reset email, the notification, the invitation and the address mails below 1.0, with their per-message return paths', () => {
    for (const mail of [resetMail, noticeMail, ...addressMails]) {
      assert.match(mail.from, /^bounces\+[0-9a-f]{32}-[0-9a-f]{20}@bounces\.example\.com$/);
      // As the receiving server stores it: the envelope sender becomes the Return-Path header.
      const { score, report } = spamScore(`Return-Path: <${mail.from}>\r\n${mail.raw}`);
      assert.ok(score < 1.0, `"${mail.subject}" scored ${score}:\n${report}`);
    }
  });

  // SpamAssassin runs once a message (about two seconds each; scoring an mbox in one run carries rule counts from one
  // message to the next), so it scores the mails that carry a link and the password-change notice, in French, German
  // and Spanish: the English ones are scored above as sent.
  it('every template renders in each language; SpamAssassin scores the link mails and the notice below 1.0 in each', async () => {
    const { config, languages } = lk.services;
    const at = Date.UTC(2026, 11, 8, 14, 5);
    const mails: MailTemplate[] = [
      { template: 'reset', params: { name: 'Rita Reader', ttlSeconds: 3600, sentByAdministrator: false } },
      { template: 'reset', params: { name: 'Rita Reader', ttlSeconds: 86400, sentByAdministrator: true } },
      { template: 'password_changed', params: { name: 'Rita Reader', changedAt: at, how: 'reset' } },
      { template: 'password_changed', params: { name: 'Rita Reader', changedAt: at, how: 'administrator' } },
      { template: 'test', params: {} },
      { template: 'security_alert', params: { title: 'Many failed logins', alerts: [{ summary: '40 failed logins for one account', at }] } },
      { template: 'two_step_removed', params: { name: 'Rita Reader', removedAt: at } },
      { template: 'invitation', params: { name: 'Ivo Invitee', ttlSeconds: 7 * 86400 } },
      { template: 'confirm_email', params: { name: 'Rita Reader', ttlSeconds: 7 * 86400 } },
      { template: 'email_change', params: { name: 'Rita Reader', ttlSeconds: 86400, newEmail: 'rita.reader@example.org' } },
      { template: 'email_change_notice', params: { name: 'Rita Reader', ttlSeconds: 86400, newEmail: 'rita.reader@example.org' } },
    ];
    const rendered: Array<{ label: string; raw: string }> = [];
    for (const code of ['en', 'fr', 'de', 'es']) {
      const translator = languages.get(code);
      assert.equal(translator.lang, code);
      for (const [index, mail] of mails.entries()) {
        const link = `${config.baseUrl.href}reset-password/Zq8v3Lx0Tn5Wc2Ry7Kp4Hb9Mf6Jd1Gs0Ae${index}`;
        const { subject, text, html } = inLanguage(translator, () => renderMail(mail, link, { baseUrl: config.baseUrl }));
        assert.match(html, new RegExp(`<html lang="${code}" dir="ltr">`));
        if (code !== 'en') assert.doesNotMatch(text, /^Hello/, `${mail.template} in ${code} is translated`);
        const raw = await messageSource({ from: 'Example Accounts <accounts@example.com>', to: 'Rita Reader <reader@example.net>', subject, text, html }, config.dkim);
        if (code !== 'en' && mail.template !== 'test' && mail.template !== 'security_alert' && mail.template !== 'two_step_removed') {
          rendered.push({ label: `${mail.template} (${code}): ${subject}`, raw: `Return-Path: <bounces+0123@bounces.example.com>\n${raw}` });
        }
      }
    }
    const failing = rendered.flatMap(({ label, raw }) => {
      const { score, report } = spamScore(raw);
      return score < 1.0 ? [] : [`${label} scored ${score}:\n${report}`];
    });
    assert.deepEqual(failing, []);
  });
});
