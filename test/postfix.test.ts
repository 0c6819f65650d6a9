// One whole reset through Debian's Postfix: the mail is delivered to a local mailbox, read from it, and the link used.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';

const PORT = Number(process.env.LATCHKEY_TEST_POSTFIX_PORT ?? 2525);
const MAILBOX = '/var/mail/latchkeymail';

/** Every message in the mbox that was sent to `to`, parsed. */
async function mailsFor(to: string): Promise<ParsedMail[]> {
  if (!existsSync(MAILBOX)) return [];
  const messages = readFileSync(MAILBOX, 'utf8').split(/^From \S+ .*$/m).filter((part) => part.trim() !== '');
  const parsed = await Promise.all(messages.map((raw) => simpleParser(raw.replace(/^\n/, ''))));
  return parsed.filter((mail) => mail.headers.get('x-original-to') === to || (mail.to && !Array.isArray(mail.to) && mail.to.value.some((v) => v.address === to)));
}

async function waitForMail(to: string, subject: string, timeoutMs = 15_000): Promise<ParsedMail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await mailsFor(to)).find((mail) => mail.subject === subject);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no "${subject}" for ${to} in ${MAILBOX} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('a reset through Postfix', () => {
  let lk: TestApp;

  before(async () => {
    // Configures and starts Postfix on the loopback port (idempotent); the tests need root, as CI has.
    execFileSync('bash', ['scripts/postfix-test-server.sh'], { stdio: 'inherit', env: { ...process.env, LATCHKEY_TEST_POSTFIX_PORT: String(PORT) } });
    lk = await startTestApp({ smtpUrl: `smtp://127.0.0.1:${PORT}`, env: { LATCHKEY_MAIL_FROM: 'Latchkey <no-reply@localhost>' } });
  });
  after(async () => {
    await lk.close();
  });

  it('the reset mail reaches the mailbox through Postfix and its link completes the reset', async () => {
    const email = `pat.${randomBytes(4).toString('hex')}@localhost`;
    await lk.createUser({ email, name: 'Pat Postfix' });
    const client = new WebClient(lk.url);
    await client.get('/reset-password');
    await client.post('/reset-password', { email });

    const mail = await waitForMail(email, 'Password reset for Pat Postfix');
    assert.ok(mail.messageId, 'a Message-ID');
    assert.match(String(mail.headers.get('received') ?? ''), /Postfix|localhost/, 'delivered by Postfix');
    const link = /https?:\/\/\S+\/reset-password\/[A-Za-z0-9_-]{43}/.exec(mail.text ?? '')?.[0];
    assert.ok(link, 'a reset link in the text part');

    const browser = new WebClient(lk.url);
    await browser.get(new URL(link).pathname);
    const page = await browser.post('/reset-password/new', { password: 'Harbor-Finch-6021', confirmation: 'Harbor-Finch-6021' });
    assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
    assert.match(textOf(page.html), new RegExp(email.replace('.', '\\.')));
    await waitForMail(email, 'Your password was changed');

    const attempts = await lk.services.db.selectFrom('mail_attempts').selectAll().execute();
    assert.ok(attempts.some((attempt) => attempt.outcome === 'sent' && /Ok: queued as/.test(attempt.reply)), 'Postfix accepted it in its own words');
  });
});
