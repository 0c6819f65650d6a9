// Delivery against real SMTP servers started by the tests: Test Connection and Send Test Email in words a
// person can act on, STARTTLS and SSL/TLS, AUTH, 4xx/5xx replies, a connection dropped mid-DATA, fallback to
// the next server, expired reset links, Retry/Cancel on the Mail Queue, SMTP down for a while, the retry horizon.
import { after, before, describe, it } from 'node:test';
import { POOL_CONNECTIONS } from '../src/modules/mail/transport.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { ManualClock } from '../src/infra/clock.ts';
import type { MailMessagesTable } from '../src/infra/db.ts';
import { retryDelay } from '../src/modules/mail/worker.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { freePort } from './support/net.ts';
import { textOf, WebClient } from './support/client.ts';

// ---------------------------------------------------------------------------------------------------------
// A real SMTP server (smtp-server) that records what it accepts, can refuse, and can drop a connection.

interface Received {
  to: string[];
  from: string;
  subject: string;
  text: string;
  raw: string;
  /** Whether the session was encrypted (STARTTLS or implicit TLS) when the message came in. */
  secure: boolean;
}

type Verdict = 'accept' | { code: number; message: string };

interface SmtpOptions extends Partial<SMTPServerOptions> {
  /** Listen on this port (0: any free one). */
  port?: number;
  /** What to answer once the message is in; default: accept. */
  verdict?: (session: SMTPServerSession) => Verdict;
  /** Destroy the connection as soon as the first bytes of the message arrive (mid-DATA). */
  dropMidData?: (session: SMTPServerSession) => boolean;
}

interface Smtp {
  port: number;
  url: string;
  mails: Received[];
  /** Mails that reached this recipient. */
  to(address: string): Received[];
  close(): Promise<void>;
}

const smtpError = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

async function smtpServer(options: SmtpOptions = {}): Promise<Smtp> {
  const { port = 0, verdict, dropMidData, ...rest } = options;
  const mails: Received[] = [];
  const server: SMTPServer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let dropped = false;
      stream.on('data', (chunk: Buffer) => {
        if (!dropped && chunks.length === 0 && dropMidData?.(session)) {
          dropped = true;
          const connection = [...(server as unknown as { connections: Set<{ session: SMTPServerSession; _socket: net.Socket }> }).connections].find(
            (c) => c.session.id === session.id,
          );
          connection?._socket.destroy();
          return;
        }
        chunks.push(chunk);
      });
      stream.on('end', async () => {
        if (dropped) return;
        const answer = verdict?.(session) ?? 'accept';
        if (answer !== 'accept') return callback(smtpError(answer.code, answer.message));
        const raw = Buffer.concat(chunks).toString('utf8');
        const parsed = await simpleParser(raw);
        mails.push({
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          raw,
          secure: session.secure,
        });
        callback();
      });
    },
    ...rest,
  });
  // A client that goes away mid-transaction makes smtp-server emit 'error'; that is the point of some tests.
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.server.address() as net.AddressInfo).port;
  return {
    port: actual,
    url: `smtp://127.0.0.1:${actual}`,
    mails,
    to: (address) => mails.filter((mail) => mail.to.includes(address)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A self-signed certificate for localhost, made now with openssl. */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Latchkey helpers.

async function loggedInAdmin(lk: TestApp, email = 'root@example.com'): Promise<WebClient> {
  await lk.createUser({ email, name: 'Ada Admin', admin: true });
  return logIn(lk, email);
}

/** A fresh session (a test that moves the clock by hours outlives the idle timeout of an older one). */
async function logIn(lk: TestApp, email = 'root@example.com'): Promise<WebClient> {
  const admin = new WebClient(lk.url);
  await admin.get('/login');
  const page = await admin.post('/login', { email, password: GOOD_PASSWORD });
  assert.equal(page.status, 200);
  return admin;
}

/** The self-service request, as a person makes it. */
async function requestReset(lk: TestApp, email: string): Promise<void> {
  const client = new WebClient(lk.url);
  await client.get('/reset-password');
  const page = await client.post('/reset-password', { email });
  assert.equal(page.status, 200);
  // The link and its mail are made by the courier's pass; made now, so the tests' clocks start here.
  await lk.services.recovery.actOnRequests();
}

async function messageTo(lk: TestApp, email: string): Promise<MailMessagesTable> {
  return lk.services.db.selectFrom('mail_messages').selectAll().where('to_address', '=', email).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
}

async function attemptsOf(lk: TestApp, messageId: string) {
  return lk.services.db.selectFrom('mail_attempts').selectAll().where('message_id', '=', messageId).orderBy('at').execute();
}

const FORM = { name: 'Relay', host: '127.0.0.1', port: '25', security: 'none', username: '', password: '', from: '', testRecipient: '' };

/** Presses a button of a server's form; returns the status and the result line the page shows. */
async function press(admin: WebClient, action: string, intent: 'test' | 'send-test' | 'save', fields: Partial<typeof FORM>): Promise<{ status: number; result: string; html: string }> {
  if (!admin.csrfToken()) await admin.get('/admin/mail-servers/new');
  const page = await admin.post(action, { ...FORM, ...fields, intent });
  const match = /data-testid="server-result">([\s\S]*?)<\/p>/.exec(page.html);
  return { status: page.status, result: match ? textOf(match[1]!) : '', html: page.html };
}

// ---------------------------------------------------------------------------------------------------------

describe('Outgoing Mail Servers: Test Connection and Send Test Email against real servers', () => {
  let lk: TestApp;
  let admin: WebClient;
  let certificate: { key: Buffer; cert: Buffer };
  const servers: Smtp[] = [];
  const started = async (options: SmtpOptions) => {
    const server = await smtpServer(options);
    servers.push(server);
    return server;
  };

  before(async () => {
    certificate = selfSignedCertificate();
    lk = await startTestApp({ startWorker: false });
    admin = await loggedInAdmin(lk);
  });
  after(async () => {
    await lk.close();
    await Promise.all(servers.map((server) => server.close()));
  });

  it('STARTTLS with a self-signed certificate: a saved server\'s Test Connection says the certificate is not trusted, and why', async () => {
    const smtp = await started({ ...certificate, disabledCommands: [] });
    await admin.get('/admin/mail-servers/new');
    const saved = await admin.post('/admin/mail-servers', { ...FORM, name: 'Self-signed STARTTLS', port: String(smtp.port), security: 'starttls', intent: 'save' });
    assert.match(textOf(saved.html), /The server was saved/);
    const id = /\/admin\/mail-servers\/([^/?]+)/.exec(saved.url)![1]!;
    const { status, result } = await press(admin, `/admin/mail-servers/${id}`, 'test', { name: 'Self-signed STARTTLS', port: String(smtp.port), security: 'starttls' });
    assert.equal(status, 502);
    assert.match(result, /^Certificate not trusted: the server uses a self-signed certificate \(127\.0\.0\.1:\d+\)/);
    assert.equal(smtp.mails.length, 0);
  });

  it('SSL/TLS with a self-signed certificate: the same plain answer', async () => {
    const smtp = await started({ ...certificate, secure: true, disabledCommands: [] });
    const { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(smtp.port), security: 'tls' });
    assert.equal(status, 502);
    assert.match(result, /^Certificate not trusted: the server uses a self-signed certificate/);
  });

  it('STARTTLS chosen but not offered by the server → "STARTTLS not offered"', async () => {
    const smtp = await started({ disabledCommands: ['STARTTLS'] });
    const { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(smtp.port), security: 'starttls' });
    assert.equal(status, 502);
    assert.match(result, /^STARTTLS not offered: 127\.0\.0\.1:\d+ does not support STARTTLS/);
  });

  for (const method of ['PLAIN', 'LOGIN'] as const) {
    it(`AUTH ${method}: the right password works, a wrong one says "Authentication failed"`, async () => {
      const used: string[] = [];
      const smtp = await started({
        authMethods: [method],
        authOptional: false,
        allowInsecureAuth: true,
        onAuth(auth, _session, callback) {
          used.push(auth.method);
          if (auth.username === 'mailer' && auth.password === 'Right-Horse-9') return callback(null, { user: 'mailer' });
          return callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
        },
      });
      let { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(smtp.port), username: 'mailer', password: 'Right-Horse-9' });
      assert.equal(status, 200, result);
      assert.match(result, /^Connection to 127\.0\.0\.1:\d+ works: connected without encryption, logged in as mailer\.$/);
      ({ status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(smtp.port), username: 'mailer', password: 'Wrong-Horse-9' }));
      assert.equal(status, 502);
      assert.match(result, /^Authentication failed: the server refused the username or password \(535 5\.7\.8 Authentication credentials invalid\)\.$/);
      assert.deepEqual(used, [method, method], `the client authenticated with AUTH ${method}`);
    });
  }

  it('a closed port → "Connection refused"', async () => {
    const port = await freePort();
    const { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(port) });
    assert.equal(status, 502);
    assert.match(result, new RegExp(`^Connection refused: nothing accepts connections on 127\\.0\\.0\\.1:${port}\\.`));
  });

  it('a name that does not resolve → "Name not found"', async () => {
    const { status, result } = await press(admin, '/admin/mail-servers', 'test', { host: 'no-such-host.invalid' });
    assert.equal(status, 502);
    assert.match(result, /^Name not found: "no-such-host\.invalid" does not resolve to an address\./);
  });

  it('a server that accepts the connection and never greets → "Timed out" (nodemailer\'s 10 s greeting timeout)', { timeout: 15_000 }, async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const startedAt = Date.now();
      const { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String((silent.address() as net.AddressInfo).port) });
      assert.equal(status, 502);
      assert.match(result, /^Timed out: 127\.0\.0\.1:\d+ did not answer in time\./);
      assert.ok(Date.now() - startedAt < 12_000, 'gave up within 12 s');
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('Send Test Email sends a real message to the typed address and reports the server\'s answer; a refused sender says "Sender refused"', async () => {
    const smtp = await started({
      onMailFrom(address, _session, callback) {
        if (address.address.startsWith('blocked@')) return callback(smtpError(550, '5.7.1 Sender address rejected: not owned by user'));
        return callback();
      },
    });
    let { status, result } = await press(admin, '/admin/mail-servers', 'send-test', { port: String(smtp.port), from: 'ops@example.com', testRecipient: 'Checker@Example.com' });
    assert.equal(status, 200, result);
    assert.match(result, /^The server accepted the test email for checker@example\.com: 250 /);
    assert.equal(smtp.to('checker@example.com').length, 1);
    assert.equal(smtp.mails[0]!.from, 'ops@example.com');

    ({ status, result } = await press(admin, '/admin/mail-servers', 'send-test', { port: String(smtp.port), from: 'blocked@example.com', testRecipient: 'checker@example.com' }));
    assert.equal(status, 502);
    assert.match(result, /^Sender refused: the server does not accept "blocked@example\.com" as sender \(550 5\.7\.1 Sender address rejected: not owned by user\)\./);
    assert.equal(smtp.mails.length, 1, 'nothing more arrived');
  });

  it('Test Connection checks the values in the form before they are saved: no server row is created', async () => {
    const smtp = await started({});
    const before = await lk.services.db.selectFrom('mail_servers').select('id').execute();
    const { status, result, html } = await press(admin, '/admin/mail-servers', 'test', { name: 'Not Saved Yet', port: String(smtp.port) });
    assert.equal(status, 200, result);
    assert.match(result, new RegExp(`^Connection to 127\\.0\\.0\\.1:${smtp.port} works`));
    assert.match(html, /value="Not Saved Yet"/, 'the form keeps what was typed');
    const afterwards = await lk.services.db.selectFrom('mail_servers').select('id').execute();
    assert.equal(afterwards.length, before.length, 'testing saves nothing');
    const list = await admin.get('/admin/mail-servers');
    assert.doesNotMatch(list.html, /Not Saved Yet/);
  });

  it('a stored password is never in any page, and a blank password on a saved server tests with the stored one', async () => {
    const secret = 'Sup3r-Secret-Relay-Pass!';
    const smtp = await started({
      authMethods: ['PLAIN'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) => (auth.password === secret ? callback(null, { user: auth.username }) : callback(smtpError(535, 'no'))),
    });
    await admin.get('/admin/mail-servers/new');
    let page = await admin.post('/admin/mail-servers', { ...FORM, name: 'With Password', port: String(smtp.port), username: 'relay-user', password: secret, intent: 'save' });
    assert.match(textOf(page.html), /The server was saved/);
    const id = /\/admin\/mail-servers\/([^/?]+)/.exec(page.url)![1]!;
    const pages = [page.html];
    pages.push((await admin.get(`/admin/mail-servers/${id}`)).html);
    // Test Connection with the password field left empty: the stored one is used.
    const tested = await press(admin, `/admin/mail-servers/${id}`, 'test', { name: 'With Password', port: String(smtp.port), username: 'relay-user', password: '' });
    assert.equal(tested.status, 200, tested.result);
    assert.match(tested.result, /logged in as relay-user/);
    pages.push(tested.html);
    // A failing save re-shows the form: still without the password typed.
    page = await admin.post(`/admin/mail-servers/${id}`, { ...FORM, name: 'With Password', port: 'not-a-port', username: 'relay-user', password: secret, intent: 'save' });
    assert.equal(page.status, 400);
    pages.push(page.html);
    pages.push((await admin.get('/admin/mail-servers')).html);
    pages.push((await admin.get('/admin/audit')).html);
    pages.push((await admin.get('/admin/audit.csv')).html);
    for (const html of pages) assert.ok(!html.includes(secret), 'the password is not in the page');
    const row = await lk.services.db.selectFrom('mail_servers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.ok(row.password_sealed && !row.password_sealed.includes(secret), 'stored sealed, not in the clear');
  });

  it('the stored password is not handed to another host typed into the form (blank password, changed SMTP Server)', async () => {
    // Otherwise anyone at the form can read the "never shown again" password: point the server at a
    // machine of their own, leave the password empty, press Test Connection, and read it off the wire.
    const secret = 'Stored-Relay-Secret-77';
    const seenByOther: string[] = [];
    const real = await started({
      authMethods: ['PLAIN'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) => (auth.password === secret ? callback(null, { user: auth.username }) : callback(smtpError(535, 'no'))),
    });
    const other = await started({
      authMethods: ['PLAIN'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) => {
        seenByOther.push(auth.password ?? '');
        callback(smtpError(535, 'no'));
      },
    });
    await admin.get('/admin/mail-servers/new');
    const page = await admin.post('/admin/mail-servers', { ...FORM, name: 'Guarded Relay', port: String(real.port), username: 'relay', password: secret, intent: 'save' });
    const id = /\/admin\/mail-servers\/([^/?]+)/.exec(page.url)![1]!;
    // Same host: the stored password is used, as the form promises.
    const same = await press(admin, `/admin/mail-servers/${id}`, 'test', { name: 'Guarded Relay', port: String(real.port), username: 'relay', password: '' });
    assert.equal(same.status, 200, same.result);
    // Another host name ("localhost" stands for a machine elsewhere): the stored password must not go there.
    const moved = await press(admin, `/admin/mail-servers/${id}`, 'test', { name: 'Guarded Relay', host: 'localhost', port: String(other.port), username: 'relay', password: '' });
    assert.notEqual(moved.status, 200, moved.result);
    assert.ok(!seenByOther.includes(secret), 'the stored password was sent to a host it was not saved for');
  });

  it('the stored password is not sent over a weaker Connection Security than it was saved for', async () => {
    const secret = 'Stored-Tls-Secret-91';
    const seen: string[] = [];
    const plain = await started({
      authMethods: ['PLAIN'],
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      onAuth: (auth, _session, callback) => {
        seen.push(auth.password ?? '');
        callback(smtpError(535, 'no'));
      },
    });
    await admin.get('/admin/mail-servers/new');
    const page = await admin.post('/admin/mail-servers', { ...FORM, name: 'Tls Relay', port: String(plain.port), security: 'starttls', username: 'relay', password: secret, intent: 'save' });
    const id = /\/admin\/mail-servers\/([^/?]+)/.exec(page.url)![1]!;
    const downgraded = await press(admin, `/admin/mail-servers/${id}`, 'test', { name: 'Tls Relay', port: String(plain.port), security: 'none', username: 'relay', password: '' });
    assert.equal(downgraded.status, 400, downgraded.result);
    assert.match(downgraded.result, /Enter the password again/);
    assert.ok(!seen.includes(secret), 'the stored password went out without encryption');
  });

  it('SSL/TLS chosen for a server that speaks plain SMTP on that port: an answer a person can act on, not OpenSSL internals', async () => {
    const smtp = await started({ disabledCommands: ['STARTTLS'] });
    const { status, result } = await press(admin, '/admin/mail-servers', 'test', { port: String(smtp.port), security: 'tls' });
    assert.equal(status, 502);
    assert.doesNotMatch(result, /ssl3_get_record|openssl|0A00010B|wrong version number/i, result);
    assert.match(result, /SSL\/TLS/);
    assert.match(result, /STARTTLS/, 'it suggests the setting that likely works');
  });
});

describe('delivery over TLS through LATCHKEY_SMTP_URL', () => {
  let certificate: { key: Buffer; cert: Buffer };
  before(() => {
    certificate = selfSignedCertificate();
  });

  for (const mode of ['STARTTLS', 'SSL/TLS'] as const) {
    it(`${mode} with tls.rejectUnauthorized=false: the reset mail is delivered over an encrypted session`, async () => {
      const secured: boolean[] = [];
      const smtp = await smtpServer({
        ...certificate,
        disabledCommands: [],
        secure: mode === 'SSL/TLS',
        onSecure(_socket, _session, callback) {
          secured.push(true);
          callback();
        },
      });
      const scheme = mode === 'SSL/TLS' ? 'smtps' : 'smtp';
      const lk = await startTestApp({ smtpUrl: `${scheme}://127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`, startWorker: false });
      try {
        await lk.createUser({ email: 'tls.user@example.com', name: 'Tess Ls' });
        await requestReset(lk, 'tls.user@example.com');
        await lk.services.worker.drain();
        const message = await messageTo(lk, 'tls.user@example.com');
        assert.equal(message.status, 'sent', message.last_error ?? '');
        const mails = smtp.to('tls.user@example.com');
        assert.equal(mails.length, 1);
        assert.equal(mails[0]!.secure, true, 'the session was encrypted when the message came in');
        assert.ok(secured.length >= 1, 'onSecure ran');
      } finally {
        await lk.close();
        await smtp.close();
      }
    });
  }
});

describe('the mail worker against a real server', () => {
  // One server whose answer depends on the recipient, so each test owns its behaviour.
  const busy = new Set<string>();
  const dropOnce = new Set<string>();
  const clock = new ManualClock();
  const deferData = new Set<string>();
  let connections = 0;
  let smtp: Smtp;
  let lk: TestApp;

  before(async () => {
    smtp = await smtpServer({
      onRcptTo(address, _session, callback) {
        if (busy.has(address.address)) return callback(smtpError(451, '4.2.1 Mailbox busy, try again later'));
        if (address.address.startsWith('rejected')) return callback(smtpError(550, '5.1.1 No such user here'));
        return callback();
      },
      verdict: (session) => (session.envelope.rcptTo.some((r) => deferData.has(r.address)) ? { code: 452, message: '4.3.1 Insufficient system storage' } : 'accept'),
      onConnect(_session, callback) {
        connections++;
        callback();
      },
      dropMidData: (session) => {
        const address = session.envelope.rcptTo[0]?.address ?? '';
        return dropOnce.delete(address);
      },
    });
    lk = await startTestApp({ smtpUrl: smtp.url, clock, startWorker: false });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  it('a 4xx reply to RCPT TO: Retrying, with a next try and the attempt recorded (server, reply)', async () => {
    busy.add('busy.rcpt@example.com');
    await lk.createUser({ email: 'busy.rcpt@example.com', name: 'Busy Rcpt' });
    await requestReset(lk, 'busy.rcpt@example.com');
    await lk.services.worker.drain();
    const message = await messageTo(lk, 'busy.rcpt@example.com');
    assert.equal(message.status, 'retrying');
    assert.equal(message.attempts, 1);
    assert.ok(message.next_attempt_at > clock.now(), 'the next try is later');
    assert.ok(message.next_attempt_at <= clock.now() + retryDelay(1, () => 1), 'within the first backoff step');
    const attempts = await attemptsOf(lk, message.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.outcome, 'temporary');
    assert.match(attempts[0]!.server, new RegExp(`127\\.0\\.0\\.1:${smtp.port}`));
    assert.match(attempts[0]!.reply, /451 4\.2\.1 Mailbox busy, try again later/);
    assert.equal(smtp.to('busy.rcpt@example.com').length, 0);
    const admin = await logIn(lk);
    const queue = await admin.get('/admin/mail-queue?status=retrying');
    const row = /<tr><td>busy\.rcpt@example\.com<\/td>[\s\S]*?<\/tr>/.exec(queue.html)?.[0] ?? '';
    assert.match(textOf(row), /Retrying 1 [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} UTC .*451 4\.2\.1 Mailbox busy/);
  });

  it('a 4xx reply to the message (after DATA): Retrying, then delivered once the server takes it', async () => {
    deferData.add('data-defer@example.com');
    await lk.createUser({ email: 'data-defer@example.com', name: 'Dee Fer' });
    await requestReset(lk, 'data-defer@example.com');
    await lk.services.worker.drain();
    let message = await messageTo(lk, 'data-defer@example.com');
    assert.equal(message.status, 'retrying');
    assert.equal(message.attempts, 1);
    let attempts = await attemptsOf(lk, message.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.outcome, 'temporary');
    assert.match(attempts[0]!.reply, /452 4\.3\.1 Insufficient system storage/);
    assert.equal(smtp.to('data-defer@example.com').length, 0);

    // Not due yet: nothing happens before the next try.
    await lk.services.worker.drain();
    assert.equal((await attemptsOf(lk, message.id)).length, 1);

    deferData.delete('data-defer@example.com');
    clock.advance(message.next_attempt_at - clock.now());
    await lk.services.worker.drain();
    message = await messageTo(lk, 'data-defer@example.com');
    assert.equal(message.status, 'sent', message.last_error ?? '');
    assert.equal(smtp.to('data-defer@example.com').length, 1);
    attempts = await attemptsOf(lk, message.id);
    assert.deepEqual(attempts.map((a) => a.outcome), ['temporary', 'sent']);
  });

  it('a 5xx reply: Failed at once, after one attempt, never retried', async () => {
    await lk.createUser({ email: 'rejected@example.com', name: 'Rex Jected' });
    await requestReset(lk, 'rejected@example.com');
    await lk.services.worker.drain();
    let message = await messageTo(lk, 'rejected@example.com');
    assert.equal(message.status, 'failed');
    assert.equal(message.attempts, 1);
    assert.match(message.last_error ?? '', /550 5\.1\.1 No such user here/);
    clock.advance(2 * 3600_000);
    await lk.services.worker.drain();
    message = await messageTo(lk, 'rejected@example.com');
    assert.equal(message.status, 'failed');
    const attempts = await attemptsOf(lk, message.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.outcome, 'permanent');
  });

  it('a server that drops the connection mid-DATA: Retrying (temporary), then delivered exactly once', async () => {
    dropOnce.add('dropped@example.com');
    await lk.createUser({ email: 'dropped@example.com', name: 'Drop Ped' });
    await requestReset(lk, 'dropped@example.com');
    await lk.services.worker.drain();
    let message = await messageTo(lk, 'dropped@example.com');
    assert.equal(message.status, 'retrying', message.last_error ?? '');
    assert.equal(smtp.to('dropped@example.com').length, 0);
    assert.equal(dropOnce.size, 0, 'the server did drop the connection');
    clock.advance(message.next_attempt_at - clock.now());
    await lk.services.worker.drain();
    message = await messageTo(lk, 'dropped@example.com');
    assert.equal(message.status, 'sent', message.last_error ?? '');
    assert.equal(smtp.to('dropped@example.com').length, 1);
    const attempts = await attemptsOf(lk, message.id);
    assert.deepEqual(attempts.map((a) => a.outcome), ['temporary', 'sent']);
  });

  it('keeps connections pooled: a batch of mails goes over at most the pool\'s connections', async () => {
    const emails = Array.from({ length: 3 * POOL_CONNECTIONS }, (_, i) => `pooled${i + 1}@example.com`);
    for (const [i, email] of emails.entries()) {
      await lk.createUser({ email, name: `Pooled User${i + 1}` });
      await requestReset(lk, email);
    }
    const before = connections;
    await lk.services.worker.drain();
    for (const email of emails) {
      assert.equal((await messageTo(lk, email)).status, 'sent');
      assert.equal(smtp.to(email).length, 1);
    }
    assert.ok(connections - before <= POOL_CONNECTIONS, `${connections - before} new connections for ${emails.length} mails`);
  });

  it('Cancel and Retry on the Mail Queue do what they say; the message page shows every attempt and masks the token', async () => {
    const email = 'queue.buttons@example.com';
    busy.add(email);
    await lk.createUser({ email, name: 'Queue Buttons' });
    await requestReset(lk, email);
    await lk.services.worker.drain();
    let message = await messageTo(lk, email);
    assert.equal(message.status, 'retrying');
    const token = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(lk.services.outbox.render(message, true).text)![1]!;
    const admin = await logIn(lk);

    // The page of a waiting message: the attempt, the source, the token masked.
    let page = await admin.get(`/admin/mail-queue/${message.id}`);
    assert.equal(page.status, 200);
    assert.match(page.html, /data-testid="mail-status">Retrying</);
    assert.ok(!page.html.includes(token), 'the token is not on the page');
    assert.ok(page.html.includes('••••'), 'the link is shown masked');

    // Cancel: never sent, whatever the clock says.
    page = await admin.post(`/admin/mail-queue/${message.id}/cancel`, {});
    assert.equal(page.status, 200);
    assert.match(textOf(page.html), /The message was cancelled/);
    message = await messageTo(lk, email);
    assert.equal(message.status, 'cancelled');
    busy.delete(email);
    clock.advance(20 * 60_000); // well past the next try, within the admin's idle timeout
    await lk.services.worker.drain();
    message = await messageTo(lk, email);
    assert.equal(message.status, 'cancelled');
    assert.equal(message.attempts, 1);
    assert.equal(smtp.to(email).length, 0);

    // Retry: due now, sent once.
    await admin.get('/admin/mail-queue');
    page = await admin.post(`/admin/mail-queue/${message.id}/retry`, {});
    assert.equal(page.status, 200);
    assert.match(textOf(page.html), /The message will be sent again now/);
    message = await messageTo(lk, email);
    assert.equal(message.status, 'queued');
    await lk.services.worker.drain();
    message = await messageTo(lk, email);
    assert.equal(message.status, 'sent', message.last_error ?? '');
    assert.equal(smtp.to(email).length, 1);
    const sentToken = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(smtp.to(email)[0]!.text)![1]!;
    assert.equal(sentToken, token, 'the mail carries the real link');

    // A sent message can be neither retried nor cancelled.
    page = await admin.post(`/admin/mail-queue/${message.id}/retry`, {});
    assert.equal(page.status, 409);
    assert.match(textOf(page.html), /This message is sent: only a waiting, failed or cancelled message can be retried/);
    await admin.get(`/admin/mail-queue/${message.id}`); // the error page has no form: back to one
    page = await admin.post(`/admin/mail-queue/${message.id}/cancel`, {});
    assert.equal(page.status, 409);
    assert.match(textOf(page.html), /This message is sent: only a queued or retrying message can be cancelled/);
    await lk.services.worker.drain();
    assert.equal(smtp.to(email).length, 1);

    // Every attempt, with its server and reply; the source with the token masked.
    page = await admin.get(`/admin/mail-queue/${message.id}`);
    const attempts = /<h2>Attempts<\/h2>([\s\S]*?)<\/table>/.exec(page.html)?.[1] ?? '';
    const rows = [...attempts.matchAll(/<tr><td>[\s\S]*?<\/tr>/g)].map((m) => textOf(m[0]));
    assert.equal(rows.length, 2, attempts);
    assert.match(rows[0]!, new RegExp(`environment \\(smtp://127\\.0\\.0\\.1:${smtp.port}\\) temporary .*451 4\\.2\\.1 Mailbox busy`));
    assert.match(rows[1]!, new RegExp(`environment \\(smtp://127\\.0\\.0\\.1:${smtp.port}\\) sent 250 `));
    const source = /data-testid="mail-source">([\s\S]*?)<\/pre>/.exec(page.html)?.[1] ?? '';
    assert.match(source, /Subject: Password reset for Queue Buttons/);
    const unfolded = source.replace(/=\r?\n/g, '');
    assert.ok(!unfolded.includes(token) && !page.html.includes(token), 'the token is not in the source nor anywhere on the page');
    assert.ok(page.html.includes('••••'), 'the masked link is shown');
  });
});

describe('falling back to the next server', () => {
  it('the first server on the page cannot be reached → delivered through the second; both attempts recorded', async () => {
    const smtp = await smtpServer();
    const closed = await freePort();
    const lk = await startTestApp({ startWorker: false });
    try {
      const admin = await loggedInAdmin(lk);
      await admin.get('/admin/mail-servers/new');
      await admin.post('/admin/mail-servers', { ...FORM, name: 'Primary', port: String(closed), intent: 'save' });
      await admin.get('/admin/mail-servers/new');
      await admin.post('/admin/mail-servers', { ...FORM, name: 'Backup', port: String(smtp.port), intent: 'save' });
      const list = textOf((await admin.get('/admin/mail-servers')).html);
      assert.match(list, /1 Primary 127\.0\.0\.1:\d+ None .*2 Backup 127\.0\.0\.1:\d+ None/);

      await lk.createUser({ email: 'fallback@example.com', name: 'Fall Back' });
      await requestReset(lk, 'fallback@example.com');
      await lk.services.worker.drain();
      const message = await messageTo(lk, 'fallback@example.com');
      assert.equal(message.status, 'sent', message.last_error ?? '');
      assert.match(message.transport ?? '', /^Backup \(127\.0\.0\.1:\d+\)$/);
      assert.equal(smtp.to('fallback@example.com').length, 1);
      const attempts = await attemptsOf(lk, message.id);
      assert.equal(attempts.length, 2);
      assert.match(attempts[0]!.server, /^Primary /);
      assert.equal(attempts[0]!.outcome, 'temporary');
      assert.match(attempts[0]!.reply, new RegExp(`^Connection refused: nothing accepts connections on 127\\.0\\.0\\.1:${closed}\\..*Trying the next server\\.$`));
      assert.match(attempts[1]!.server, /^Backup /);
      assert.equal(attempts[1]!.outcome, 'sent');
      assert.match(attempts[1]!.reply, /^250 /);
    } finally {
      await lk.close();
      await smtp.close();
    }
  });
});

describe('a reset link that expired before delivery', () => {
  it('its mail is Cancelled and never sent', async () => {
    const smtp = await smtpServer();
    const clock = new ManualClock();
    const lk = await startTestApp({ smtpUrl: smtp.url, clock, startWorker: false, env: { LATCHKEY_RESET_TTL: '60' } });
    try {
      await lk.createUser({ email: 'late@example.com', name: 'Lay Te' });
      await requestReset(lk, 'late@example.com');
      clock.advance(61_000);
      await lk.services.worker.drain();
      const message = await messageTo(lk, 'late@example.com');
      assert.equal(message.status, 'cancelled');
      assert.equal(message.last_error, 'The reset link expired before this mail could be delivered.');
      assert.equal(message.sealed_token, null, 'the token is dropped');
      assert.equal((await attemptsOf(lk, message.id)).length, 0, 'no attempt was made');
      assert.equal(smtp.mails.length, 0);

      // A link still valid goes out as usual.
      await lk.createUser({ email: 'ontime@example.com', name: 'On Time' });
      await requestReset(lk, 'ontime@example.com');
      clock.advance(59_000);
      await lk.services.worker.drain();
      assert.equal((await messageTo(lk, 'ontime@example.com')).status, 'sent');
      assert.equal(smtp.to('ontime@example.com').length, 1);
      assert.equal(smtp.to('late@example.com').length, 0);
    } finally {
      await lk.close();
      await smtp.close();
    }
  });
});

describe('SMTP down for a while', () => {
  it('every queued mail arrives exactly once after the server returns', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const lk = await startTestApp({ smtpUrl: `smtp://127.0.0.1:${port}`, clock, startWorker: false });
    let smtp: Smtp | null = null;
    try {
      const emails = Array.from({ length: 5 }, (_, i) => `outage${i + 1}@example.com`);
      for (const [i, email] of emails.entries()) {
        await lk.createUser({ email, name: `Outage User${i + 1}` });
        await requestReset(lk, email);
      }
      await lk.services.worker.drain();
      for (const email of emails) {
        const message = await messageTo(lk, email);
        assert.equal(message.status, 'retrying', `${email}: ${message.last_error}`);
        assert.match(message.last_error ?? '', /^Connection refused/);
        assert.ok(message.next_attempt_at - clock.now() <= 30_000, 'the first backoff step is at most 30 s');
      }

      smtp = await smtpServer({ port });
      clock.advance(30_001);
      await lk.services.worker.drain();
      for (const email of emails) {
        const message = await messageTo(lk, email);
        assert.equal(message.status, 'sent', `${email}: ${message.last_error}`);
        assert.equal(smtp.to(email).length, 1, `${email} received exactly one mail`);
      }
      await lk.services.worker.drain();
      clock.advance(3600_000);
      await lk.services.worker.drain();
      assert.equal(smtp.mails.length, emails.length);
      for (const email of emails) assert.equal(smtp.to(email).length, 1, `${email} still exactly once`);
    } finally {
      await lk.close();
      await smtp?.close();
    }
  });
});

describe('the retry horizon', () => {
  it('with LATCHKEY_MAIL_RETRY_HORIZON=60 and a server answering 451, the message is Failed once the horizon has passed', async () => {
    const smtp = await smtpServer({ onRcptTo: (_address, _session, callback) => callback(smtpError(451, '4.7.1 Greylisted, try again later')) });
    const clock = new ManualClock();
    const lk = await startTestApp({ smtpUrl: smtp.url, clock, startWorker: false, env: { LATCHKEY_MAIL_RETRY_HORIZON: '60' } });
    try {
      await lk.createUser({ email: 'grey@example.com', name: 'Grey Listed' });
      await requestReset(lk, 'grey@example.com');
      const queuedAt = clock.now();
      await lk.services.worker.drain();
      let message = await messageTo(lk, 'grey@example.com');
      assert.equal(message.status, 'retrying');
      // Follow the schedule until past the horizon.
      while (clock.now() <= queuedAt + 61_000) {
        const step = message.status === 'retrying' ? Math.max(1, message.next_attempt_at - clock.now()) : 5_000;
        clock.advance(step);
        await lk.services.worker.drain();
        message = await messageTo(lk, 'grey@example.com');
      }
      assert.equal(message.status, 'failed');
      assert.match(message.last_error ?? '', /451 4\.7\.1 Greylisted/);
      const attempts = await attemptsOf(lk, message.id);
      assert.ok(attempts.length >= 2, 'it was retried before giving up');
      assert.equal(attempts.at(-1)!.outcome, 'permanent');
      assert.ok(attempts.every((a) => a.at <= queuedAt + 60_000), 'no attempt after the horizon');
      assert.equal(smtp.mails.length, 0);
    } finally {
      await lk.close();
      await smtp.close();
    }
  });
});

