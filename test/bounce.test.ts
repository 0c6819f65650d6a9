// Bounces: a real one through Debian's Postfix back to Latchkey's listener, and forged, malformed and soft ones ignored.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import nodemailer from 'nodemailer';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';
import { waitFor } from './support/wait.ts';
import { spamScore } from './support/spam.ts';
import { startImapServer, type TestImapServer } from './support/imap.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { ReturnPaths } from '../src/modules/mail/return-path.ts';
import { API_SCOPES } from '../src/modules/apikeys/apikeys.service.ts';

const VERP = /^bounces\+[0-9a-f]{32}-[0-9a-f]{20}@/;

/** A delivery status notification (RFC 3464) as a mail server writes one. */
function dsn(options: { to: string; action?: string; status?: string; diagnostic?: string; report?: boolean }): string {
  const action = options.action ?? 'failed';
  const status = options.status ?? '5.1.1';
  const report = options.report ?? true;
  const body = report
    ? [
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"',
        '',
        '--R',
        'Content-Type: text/plain',
        '',
        'Your message could not be delivered.',
        '',
        '--R',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.net',
        '',
        'Final-Recipient: rfc822; someone@example.net',
        `Action: ${action}`,
        `Status: ${status}`,
        'Remote-MTA: dns; mx.example.net',
        `Diagnostic-Code: smtp; ${options.diagnostic ?? '550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown'}`,
        '',
        '--R--',
        '',
      ]
    : ['Content-Type: text/plain', '', 'Thanks for your mail! I am out of the office.', ''];
  return [
    'From: MAILER-DAEMON@mx.example.net',
    `To: ${options.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'Date: Tue, 08 Dec 2026 03:00:00 +0000',
    'Message-ID: <dsn.1@mx.example.net>',
    'MIME-Version: 1.0',
    ...body,
  ].join('\r\n');
}

async function deliver(port: number, to: string, raw: string): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope: { from: '', to }, raw });
  } finally {
    transport.close();
  }
}

async function signInAdmin(lk: TestApp): Promise<WebClient> {
  await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
  const admin = new WebClient(lk.url);
  await admin.get('/login');
  await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
  return admin;
}

const listed = (html: string) => [...html.matchAll(/<a href="\/admin\/users\/[0-9a-f-]{36}">([^<]+)<\/a>/g)].map((m) => m[1]);

describe('bounces sent to the listener', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let admin: WebClient;
  let port: number;

  const audits = (type: string) => lk.services.db.selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('id').execute();
  const messageOf = (id: string) => lk.services.db.selectFrom('mail_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /** Sends reset instructions to a new user; returns the sent message's id and its return path. */
  async function sentResetMail(email: string, name: string): Promise<{ id: string; returnPath: string; userId: string }> {
    const user = await lk.createUser({ email, name });
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'cli');
    const mail = await smtp.waitForMail((m) => m.to.includes(email));
    const row = await lk.services.db.selectFrom('mail_messages').select('id').where('to_address', '=', email).executeTakeFirstOrThrow();
    await waitFor('the mail recorded as sent', async () => (await messageOf(row.id)).status === 'sent');
    return { id: row.id, returnPath: mail.from, userId: user.id };
  }

  before(async () => {
    smtp = await startSmtpServer();
    // The bounce domain under the From address's domain: spam filters compare the two (HEADER_FROM_DIFFERENT_DOMAINS).
    lk = await startTestApp({
      smtpUrl: smtp.url,
      env: { LATCHKEY_MAIL_FROM: 'Example Accounts <accounts@example.org>', LATCHKEY_BOUNCE_DOMAIN: 'bounces.example.org', LATCHKEY_BOUNCE_LISTEN: '127.0.0.1:0' },
    });
    await lk.services.bounceListener!.start();
    port = lk.services.bounceListener!.port;
    admin = await signInAdmin(lk);
  });

  it('readiness reports the listener; a bounce counts in the metrics', async () => {
    const ready = (await (await fetch(`${lk.url}/readyz`)).json()) as { checks: Record<string, string> };
    assert.equal(ready.checks.bounceListener, 'listening');
    assert.match(await (await fetch(`${lk.url}/metrics`)).text(), /latchkey_mail_bounces_total\{outcome="bounced"\} 0/);
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  it('each mail goes out with its own return path at the bounce domain, naming the message under a tag', async () => {
    const { id, returnPath } = await sentResetMail('vera@example.net', 'Vera Verp');
    assert.match(returnPath, VERP);
    assert.ok(returnPath.endsWith('@bounces.example.org'));
    assert.ok(returnPath.includes(id.replaceAll('-', '')), 'the message id is in the return path');
    // Another installation secret gives another tag: the address cannot be made without the secret.
    assert.notEqual(new ReturnPaths('another secret that is long enough to use', 'bounces.example.org').addressFor(id), returnPath);
  });

  it('the listener refuses recipients that are not return paths of the bounce domain: it is no relay', async () => {
    for (const to of ['someone@example.net', 'postmaster@bounces.example.org', 'bounces+nothex-123@bounces.example.org']) {
      await assert.rejects(deliver(port, to, dsn({ to })), (error: Error & { responseCode?: number }) => error.responseCode === 550, to);
    }
  });

  it('the listener refuses a message over 1 MB', async () => {
    const to = new ReturnPaths('another secret that is long enough to use', 'bounces.example.org').addressFor('01a253b5-728a-74e0-8ee0-eadaabfc6b5d');
    const big = dsn({ to }).replace('Your message could not be delivered.', 'x'.repeat(76).concat('\r\n').repeat(14_000));
    await assert.rejects(deliver(port, to, big), (error: Error & { responseCode?: number }) => error.responseCode === 552);
  });

  it('a forged DSN (a real message id under a wrong tag) is ignored with an audit entry, and the message stays sent', async () => {
    const { id, returnPath } = await sentResetMail('forge@example.net', 'Fiona Forge');
    const forged = returnPath.replace(/-([0-9a-f]{20})@/, (_match, tag: string) => `-${tag.startsWith('0') ? '1' : '0'}${tag.slice(1)}@`);
    await deliver(port, forged, dsn({ to: forged }));
    const ignored = await audits('mail.bounce_ignored');
    assert.equal(ignored.length, 1);
    const detail = JSON.parse(ignored[0]!.detail!) as { reason: string };
    assert.match(detail.reason, /does not verify/);
    assert.ok(!ignored[0]!.detail!.includes(forged.split('@')[0]!.split('-').pop()!), 'no tag in the audit log');
    assert.equal((await messageOf(id)).status, 'sent');
    assert.deepEqual(await audits('mail.bounced'), []);
  });

  it('malformed, non-DSN and soft bounces are ignored with a reason; the address stays deliverable', async () => {
    const { id, returnPath } = await sentResetMail('soft@example.net', 'Sam Soft');
    const before = (await audits('mail.bounce_ignored')).length;
    await deliver(port, returnPath, dsn({ to: returnPath, report: false }));
    await deliver(port, returnPath, dsn({ to: returnPath, action: 'delayed', status: '4.4.1', diagnostic: 'smtp; 451 4.4.1 try later' }));
    await deliver(port, returnPath, dsn({ to: returnPath, status: 'five' }));
    await deliver(port, returnPath, 'this is not a mail at all');
    const reasons = (await audits('mail.bounce_ignored')).slice(before).map((row) => (JSON.parse(row.detail!) as { reason: string }).reason);
    assert.equal(reasons.length, 4, reasons.join('; '));
    assert.match(reasons[0]!, /not a delivery status notification/);
    assert.match(reasons[1]!, /not a hard bounce \(Action: delayed, Status: 4\.4\.1\)/);
    assert.match(reasons[2]!, /malformed delivery status/);
    assert.match(reasons[3]!, /not a delivery status notification/);
    assert.equal((await messageOf(id)).status, 'sent');
    assert.equal(await lk.services.bounces.markOf('soft@example.net'), null);
  });

  it('a hard bounce marks the message "Bounced" with the remote words and the address "Undeliverable"; a second copy changes nothing', async () => {
    const { id, returnPath, userId } = await sentResetMail('gone@example.net', 'Gus Gone');
    // Mail servers may change the case of the local part on the way.
    await deliver(port, returnPath.toUpperCase(), dsn({ to: returnPath }));
    await deliver(port, returnPath, dsn({ to: returnPath }));
    const message = await messageOf(id);
    assert.equal(message.status, 'bounced');
    assert.equal(message.last_error, '550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown');
    assert.equal((await audits('mail.bounced')).length, 1, 'recorded once');
    const metrics = await (await fetch(`${lk.url}/metrics`)).text();
    assert.match(metrics, /latchkey_mail_bounces_total\{outcome="bounced"\} 1/);
    assert.match(metrics, /latchkey_mail_bounces_total\{outcome="duplicate"\} 1/);

    const queue = textOf((await admin.get('/admin/mail-queue?status=bounced')).html);
    assert.match(queue, /gone@example\.net Password reset for Gus Gone Bounced/);
    assert.match(queue, /Recipient address rejected: User unknown/);
    const shown = textOf((await admin.get(`/admin/mail-queue/${id}`)).html);
    assert.match(shown, /mx\.example\.net bounced 550 5\.1\.1 <someone@example\.net>/);

    assert.deepEqual(listed((await admin.get('/admin/users?filter=undeliverable')).html), ['Gus Gone']);
    const page = textOf((await admin.get(`/admin/users/${userId}`)).html);
    assert.match(page, /Email Delivery Undeliverable ?: mail to this address bounced/);
    assert.match(page, /User unknown/);
    assert.equal((await lk.services.bounces.markOf('gone@example.net'))?.message_id, id);

    // The JSON API says the same: the user is undeliverable, the mail bounced with the remote words.
    const { secret } = await lk.services.apiKeys.create({ name: 'Reader', scopes: [...API_SCOPES], expiresAt: null }, COMMAND_LINE);
    const api = async (path: string) => (await fetch(`${lk.url}/api/v1${path}`, { headers: { authorization: `Bearer ${secret}` } })).json() as Promise<Record<string, unknown>>;
    assert.equal((await api(`/users/${userId}`)).undeliverable, true);
    const listedUsers = (await api('/users?filter=undeliverable')).data as Array<{ email: string; undeliverable: boolean }>;
    assert.deepEqual(listedUsers.map((user) => [user.email, user.undeliverable]), [['gone@example.net', true]]);
    const mails = (await api('/mail?status=bounced')).data as Array<{ id: string; status: string; last_error: string }>;
    assert.deepEqual(mails.map((mail) => [mail.id, mail.status]), [[id, 'bounced']]);
    assert.match(mails[0]!.last_error, /User unknown/);
  });

  it('the same DSN received twice at once (two instances, or a server that retried) is recorded once', async () => {
    const { id, returnPath } = await sentResetMail('twice@example.net', 'Tess Twice');
    const raw = Buffer.from(dsn({ to: returnPath }));
    const outcomes = await Promise.all([1, 2, 3].map(() => lk.services.bounces.receive(raw, [returnPath], { ip: '127.0.0.1', userAgent: 'test' })));
    assert.deepEqual(outcomes.sort(), ['bounced', 'duplicate', 'duplicate']);
    assert.equal((await messageOf(id)).status, 'bounced');
    const attempts = await lk.services.db.selectFrom('mail_attempts').select('outcome').where('message_id', '=', id).execute();
    assert.deepEqual(attempts.map((attempt) => attempt.outcome).sort(), ['bounced', 'sent']);
  });

  it('a reset asked for an undeliverable address answers as for any address, alerts administrators, and a used link clears the mark', async () => {
    const answer = async (email: string) => {
      const client = new WebClient(lk.url);
      await client.get('/reset-password');
      return textOf((await client.post('/reset-password', { email })).html);
    };
    const toGone = () => smtp.mails.filter((m) => m.to.includes('gone@example.net'));
    const earlier = toGone().length;
    assert.equal(await answer('gone@example.net'), await answer('nobody-at-all@example.net'));
    await waitFor('the alert', async () => (await lk.services.db.selectFrom('security_alerts').selectAll().where('kind', '=', 'reset_undeliverable').execute()).length === 1);
    const alert = await lk.services.db.selectFrom('security_alerts').selectAll().where('kind', '=', 'reset_undeliverable').executeTakeFirstOrThrow();
    assert.equal(alert.subject, 'gone@example.net');
    assert.match(alert.summary, /reach the person another way/);
    assert.match(textOf((await admin.get('/admin/security')).html), /Reset asked for an undeliverable address/);
    // Administrators are mailed about it, and that mail passes spam filters like every other.
    const alertMail = await smtp.waitForMail((m) => m.to.includes('root@example.com') && m.subject === 'Security alert: Reset asked for an undeliverable address');
    const { score, report } = spamScore(`Return-Path: <${alertMail.from}>\r\n${alertMail.raw}`);
    assert.ok(score < 1.0, `the alert mail scored ${score}:\n${report}`);

    // The mail went anyway; here it arrives, and using its link proves the mailbox.
    await waitFor('the new reset mail', () => toGone().length > earlier);
    const mail = toGone().at(-1)!;
    const person = new WebClient(lk.url);
    await person.get(new URL(resetLinkIn(mail)).pathname);
    const done = await person.post('/reset-password/new', { password: 'Quiet-Lantern-5190', confirmation: 'Quiet-Lantern-5190' });
    assert.ok(done.url.includes('/account'), done.url);
    assert.equal(await lk.services.bounces.markOf('gone@example.net'), null);
    assert.equal((await audits('mail.address_deliverable')).length, 1);
    assert.deepEqual(listed((await admin.get('/admin/users?filter=undeliverable')).html), ['Tess Twice']);
  });
});

describe('a real bounce through Postfix', () => {
  const POSTFIX_PORT = Number(process.env.LATCHKEY_TEST_POSTFIX_PORT ?? 2525);
  const BOUNCE_PORT = Number(process.env.LATCHKEY_TEST_BOUNCE_PORT ?? 2526);
  let lk: TestApp;
  let admin: WebClient;

  before(async () => {
    // Postfix on the loopback port, with nobody.localhost bouncing and bounces.localhost relayed to the listener.
    execFileSync('bash', ['scripts/postfix-test-server.sh'], {
      stdio: 'inherit',
      env: { ...process.env, LATCHKEY_TEST_POSTFIX_PORT: String(POSTFIX_PORT), LATCHKEY_TEST_BOUNCE_PORT: String(BOUNCE_PORT) },
    });
    lk = await startTestApp({
      smtpUrl: `smtp://127.0.0.1:${POSTFIX_PORT}`,
      env: { LATCHKEY_MAIL_FROM: 'Latchkey <no-reply@localhost>', LATCHKEY_BOUNCE_DOMAIN: 'bounces.localhost', LATCHKEY_BOUNCE_LISTEN: `127.0.0.1:${BOUNCE_PORT}` },
    });
    await lk.services.bounceListener!.start();
    // Postfix defers a destination that refused a connection (a DSN of an earlier run that came after its listener
    // closed) for minutes: a flush retries the queue, and such old DSNs reach this listener and are ignored.
    execFileSync('postqueue', ['-f'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    admin = await signInAdmin(lk);
  });
  after(async () => {
    await lk.close();
  });

  it('mail to a local user that does not exist bounces; the DSN marks the message and the address; a reset for it raises the alert', async () => {
    const email = `ghost.${Date.now().toString(36)}@nobody.localhost`;
    const user = await lk.createUser({ email, name: 'Gail Ghost' });
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'cli');
    const row = () => lk.services.db.selectFrom('mail_messages').selectAll().where('to_address', '=', email).executeTakeFirstOrThrow();
    await waitFor('the bounce from Postfix', async () => (await row()).status === 'bounced', 30_000);
    const message = await row();
    assert.match(message.last_error ?? '', /^5\.1\.1 .*unknown user/i, message.last_error ?? '');
    const attempts = await lk.services.db.selectFrom('mail_attempts').selectAll().where('message_id', '=', message.id).orderBy('at').execute();
    assert.deepEqual(attempts.map((attempt) => attempt.outcome), ['sent', 'bounced']);

    assert.match(textOf((await admin.get('/admin/mail-queue')).html), /Gail Ghost Bounced/);
    assert.deepEqual(listed((await admin.get('/admin/users?filter=undeliverable')).html), ['Gail Ghost']);
    assert.match(textOf((await admin.get(`/admin/users/${user.id}`)).html), /Undeliverable/);

    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    await client.post('/reset-password', { email });
    await waitFor('the alert', async () => (await lk.services.db.selectFrom('security_alerts').select('subject').where('kind', '=', 'reset_undeliverable').execute()).some((a) => a.subject === email));
    // The new mail bounces too; its DSN is taken before the listener closes, so none waits in Postfix's queue.
    await waitFor(
      'the second bounce',
      async () => (await lk.services.db.selectFrom('mail_messages').select('status').where('to_address', '=', email).execute()).filter((m) => m.status === 'bounced').length === 2,
      30_000,
    );
  });
});

describe('bounces read from an IMAP mailbox', () => {
  let smtp: TestSmtpServer;
  let imap: TestImapServer;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    imap = await startImapServer('bounces', 'mailbox-password');
    lk = await startTestApp({
      smtpUrl: smtp.url,
      env: {
        LATCHKEY_MAIL_FROM: 'Example Accounts <accounts@example.org>',
        LATCHKEY_BOUNCE_DOMAIN: 'bounces.example.org',
        LATCHKEY_BOUNCE_IMAP_URL: `imap://bounces:mailbox-password@127.0.0.1:${imap.port}/INBOX`,
      },
    });
  });
  after(async () => {
    await lk.close();
    await smtp.close();
    await imap.close();
  });

  it('a poll records the hard bounce its headers address, ignores the rest, and empties the mailbox', async () => {
    const user = await lk.createUser({ email: 'polly@example.net', name: 'Polly Mailbox' });
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'cli');
    const mail = await smtp.waitForMail((m) => m.to.includes('polly@example.net'));
    const message = await lk.services.db.selectFrom('mail_messages').select('id').where('to_address', '=', 'polly@example.net').executeTakeFirstOrThrow();
    await waitFor('the mail recorded as sent', async () => (await lk.services.db.selectFrom('mail_messages').select('status').where('id', '=', message.id).executeTakeFirstOrThrow()).status === 'sent');
    assert.match(mail.from, VERP);
    const forged = mail.from.replace(/-[0-9a-f]{20}@/, '-00000000000000000000@');
    // The mailbox keeps the return path in Delivered-To, as a catch-all delivery does.
    imap.add(`Delivered-To: ${mail.from}\r\n${dsn({ to: 'postmaster@example.org' })}`);
    imap.add(dsn({ to: forged }));
    imap.add(dsn({ to: 'someone@example.org', report: false }));

    assert.equal(await lk.services.bounceMailbox!.poll(), 3);
    const row = await lk.services.db.selectFrom('mail_messages').selectAll().where('id', '=', message.id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'bounced');
    assert.match(row.last_error ?? '', /User unknown/);
    assert.ok(await lk.services.bounces.markOf('polly@example.net'));
    const ignored = await lk.services.db.selectFrom('audit_events').select('detail').where('type', '=', 'mail.bounce_ignored').orderBy('id').execute();
    assert.deepEqual(
      ignored.map((event) => (JSON.parse(event.detail!) as { reason: string }).reason),
      ['the return path does not verify (forged or altered)', 'not addressed to a return path of Latchkey'],
    );
    assert.equal(imap.messages.length, 0, 'every message read was deleted');
    assert.equal(await lk.services.bounceMailbox!.poll(), 0);
  });
});
