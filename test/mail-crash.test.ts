// The mail queue across process deaths: a real `latchkey serve` killed with SIGKILL mid-batch loses nothing
// after restart; stopped with SIGTERM mid-batch it finishes the mails in hand, exits 0, and sends nothing twice.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Db } from '../src/infra/db.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { WebClient } from './support/client.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { sleep, waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// More than two batches of the worker (50): however the requests spread over its claims, a stop always
// comes with mail still waiting its turn.
const USERS = 120;
const ACK_DELAY_MS = 200;

// ---------------------------------------------------------------------------------------------------------
// A slow SMTP server: it takes each message, then waits before saying 250, as a busy relay does.

interface SlowSmtp {
  port: number;
  /** Recipients of every message that came in whole (counted when the data ended, before the 250). */
  received: string[];
  count(address: string): number;
  close(): Promise<void>;
}

async function slowSmtpServer(): Promise<SlowSmtp> {
  const received: string[] = [];
  const server: SMTPServer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session: SMTPServerSession, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(...session.envelope.rcptTo.map((rcpt) => rcpt.address));
        setTimeout(() => callback(), ACK_DELAY_MS);
      });
    },
  });
  // A client killed mid-transaction makes smtp-server emit 'error': expected here.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    count: (address) => received.filter((to) => to === address).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of (server as unknown as { connections: Set<{ _socket: Socket }> }).connections) connection._socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// A real Latchkey process.

const dirs: string[] = [];
const children = new Set<ChildProcess>();
const readers: Db[] = [];

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const reader of readers) await reader.destroy();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Installation {
  dir: string;
  env: Record<string, string>;
  port: number;
  url: string;
  /** The installation's database, read from the test's side while the server runs. */
  db: Db;
  emails: string[];
}

/** A data folder with USERS users (created through the same service the CLI's `users add` calls). */
async function install(smtpPort: number): Promise<Installation> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-crash-'));
  dirs.push(dir);
  const port = await freePort();
  const env: Record<string, string> = {
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
    LATCHKEY_PORT: String(port),
    LATCHKEY_RATE_LIMIT: '0',
    LATCHKEY_RESET_LIMIT_PER_HOUR: '0',
    LATCHKEY_MAIL_LEASE: '5',
    LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    LATCHKEY_LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  const config = loadConfig(env, ROOT);
  const services = await createServices(config, systemClock, createLogger('silent'));
  const emails: string[] = [];
  try {
    for (let i = 1; i <= USERS; i++) {
      const email = `crash${String(i).padStart(2, '0')}@example.com`;
      // No password: as `latchkey users add` without --password; the reset mail is how they choose one.
      await services.users.create({ email, name: `Crash User${i}`, password: null, role: 'user' }, COMMAND_LINE);
      emails.push(email);
    }
  } finally {
    await services.close();
  }
  const db = openDatabase(config.database);
  readers.push(db);
  return { dir, env, port, url: `http://127.0.0.1:${port}`, db, emails };
}


interface Server {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startServer(installation: Installation): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: cleanEnv(installation.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`latchkey serve exited with ${child.exitCode}: ${output}`);
    try {
      const response = await fetch(`${installation.url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`latchkey serve did not start: ${output}`);
    await sleep(100);
  }
  return { child, output: () => output, exited };
}



/** Every user asks for a reset, over HTTP, as people do. */
async function requestResets(installation: Installation): Promise<void> {
  await Promise.all(
    installation.emails.map(async (email) => {
      const client = new WebClient(installation.url);
      await client.get('/reset-password');
      const page = await client.post('/reset-password', { email });
      assert.equal(page.status, 200, `reset request for ${email}`);
    }),
  );
}

type Row = { to_address: string; status: string; attempts: number };

/** Reset requests answered but not yet acted on (the courier's pass turns each into a link and a mail). */
async function waiting(installation: Installation): Promise<number> {
  return (await installation.db.selectFrom('reset_requests').select('id').execute()).length;
}

/** The mail queue as the database holds it, read beside the server. */
function queue(installation: Installation): Promise<Row[]> {
  return installation.db.selectFrom('mail_messages').select(['to_address', 'status', 'attempts']).execute();
}

const byStatus = (rows: Row[]) => rows.reduce<Record<string, number>>((counts, row) => ({ ...counts, [row.status]: (counts[row.status] ?? 0) + 1 }), {});

// ---------------------------------------------------------------------------------------------------------

describe('the mail queue when the Latchkey process dies', () => {
  it('killed with SIGKILL in the middle of a batch: after restart every mail arrives, duplicates at most the ones in flight', { timeout: 40_000 }, async () => {
    const smtp = await slowSmtpServer();
    try {
      const installation = await install(smtp.port);
      let server = await startServer(installation);
      await requestResets(installation);
      // Some mails are out, most are not: kill it there.
      await waitFor('the first mails', () => new Set(smtp.received).size >= 5, 15_000);
      server.child.kill('SIGKILL');
      const killed = await server.exited;
      assert.equal(killed.signal, 'SIGKILL');
      await sleep(200); // let the SMTP server notice the dead connections before taking stock
      const receivedAtKill = new Set(smtp.received);
      assert.ok(receivedAtKill.size < USERS, `the kill came mid-batch (${receivedAtKill.size} of ${USERS} already received)`);

      const atKill = await queue(installation);
      assert.equal(atKill.length + (await waiting(installation)), USERS, 'every request queued exactly one mail or waits to, and both survived the kill');
      const inFlight = atKill.filter((row) => row.status === 'sending').length;
      assert.ok(inFlight > 0, 'mails were claimed and in hand when the process died');
      const sentAtKill = atKill.filter((r) => r.status === 'sent').map((row) => row.to_address);
      for (const email of sentAtKill) assert.ok(receivedAtKill.has(email), `${email} is marked sent only after the server took it`);
      // Only a mail the server took whose 250 the dead process never recorded may go out twice.
      const unrecorded = [...receivedAtKill].filter((email) => !sentAtKill.includes(email)).length;

      server = await startServer(installation);
      await waitFor('every mail to be sent after the restart', async () => (await waiting(installation)) === 0 && (await queue(installation)).every((row) => row.status === 'sent'), 20_000).catch(async (error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(byStatus(await queue(installation)))}\n${server.output()}`);
      });
      for (const email of installation.emails) assert.ok(smtp.count(email) >= 1, `${email} got its reset mail`);
      const duplicates = smtp.received.length - new Set(smtp.received).size;
      assert.ok(duplicates <= inFlight, `${duplicates} duplicate(s), at most the ${inFlight} mail(s) that were claimed when the process died`);
      assert.ok(duplicates <= unrecorded, `${duplicates} duplicate(s), at most the ${unrecorded} taken by the server but not yet recorded as sent`);
      for (const email of sentAtKill) assert.equal(smtp.count(email), 1, `${email}, recorded as sent before the kill, is not sent again`);
      assert.equal((await queue(installation)).length, USERS);
      assert.equal(await waiting(installation), 0);

      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 0, signal: null });
    } finally {
      await smtp.close();
    }
  });

  it('stopped with SIGTERM in the middle of a batch: it finishes the mails in hand, exits 0, and after restart nothing is sent twice', { timeout: 40_000 }, async () => {
    const smtp = await slowSmtpServer();
    try {
      const installation = await install(smtp.port);
      let server = await startServer(installation);
      await requestResets(installation);
      await waitFor('the first mails', () => new Set(smtp.received).size >= 5, 15_000);
      server.child.kill('SIGTERM');
      const stopped = await server.exited;
      assert.deepEqual(stopped, { code: 0, signal: null }, server.output());

      const atStop = await queue(installation);
      assert.equal(atStop.length + (await waiting(installation)), USERS, 'every request queued one mail or waits to');
      assert.equal(atStop.filter((row) => row.status === 'sending').length, 0, `no mail is left half-sent: ${JSON.stringify(byStatus(atStop))}`);
      const sentAtStop = atStop.filter((row) => row.status === 'sent');
      assert.ok(sentAtStop.length < USERS, `the stop came mid-batch (${sentAtStop.length} of ${USERS} sent)`);
      for (const row of sentAtStop) assert.equal(smtp.count(row.to_address), 1, `${row.to_address} was received once before the stop`);
      assert.equal(smtp.received.length, sentAtStop.length, 'every mail the server took is marked sent');

      server = await startServer(installation);
      await waitFor('every mail to be sent after the restart', async () => (await waiting(installation)) === 0 && (await queue(installation)).every((row) => row.status === 'sent'), 20_000).catch(async (error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(byStatus(await queue(installation)))}\n${server.output()}`);
      });
      await sleep(1_500); // a poll or two more: nothing else may go out
      for (const email of installation.emails) assert.equal(smtp.count(email), 1, `${email} got exactly one mail`);
      assert.equal(smtp.received.length, USERS);

      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 0, signal: null });
    } finally {
      await smtp.close();
    }
  });
});
