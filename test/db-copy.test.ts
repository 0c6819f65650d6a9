// Moving up: an installation that started on the embedded SQLite is copied to PostgreSQL with `latchkey db copy` (the built command), then used there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../src/infra/db.ts';
import { migrations } from '../src/infra/migrations.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { latchkey as runLatchkey, type Run } from './support/cli.ts';
import { TEST_POSTGRES_URL } from './support/database.ts';
import { createDatabase, startPostgresCluster, type PostgresCluster } from './support/postgres.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASE_URL = 'https://accounts.example.test/';
const NEW_PASSWORD = 'Quiet-Lantern-77';
const RELAY_PASSWORD = 'relay-Pass-0451';
/** Put in the target's URL: trust authentication ignores it, and no output may show it. */
const URL_PASSWORD = 'Never-Print-Me-93';

/** `latchkey …` as a user runs it after `npm run build`, in a shell without Latchkey settings of its own. */
const latchkey = (args: string[], env: Record<string, string>) => runLatchkey(args, { env, from: 'build' });

/** Exit code 1 and exactly one line on stderr, without a stack trace. */
function oneLineError(result: Run, what: string): string {
  assert.equal(result.code, 1, `${what} exits 1 (stdout: ${result.stdout}, stderr: ${result.stderr})`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^latchkey: \S/);
  return lines[0]!;
}

/** The count table the command prints: table → [source, target]. */
function countsIn(stdout: string): Map<string, [number, number]> {
  const counts = new Map<string, [number, number]>();
  for (const line of stdout.split('\n')) {
    const match = /^(\w+)\s+([\d,]+)\s+([\d,]+)$/.exec(line);
    if (match) counts.set(match[1]!, [Number(match[2]!.replaceAll(',', '')), Number(match[3]!.replaceAll(',', ''))]);
  }
  return counts;
}

/** The emailed link, opened against the test server (the mail carries the public base URL). */
function local(link: string): string {
  return new URL(link).pathname;
}

async function logIn(url: string, email: string, password: string): Promise<WebClient> {
  const client = new WebClient(url);
  await client.get('/login');
  await client.post('/login', { email, password });
  return client;
}

describe('moving an installation from SQLite to PostgreSQL with latchkey db copy', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'latchkey-move-'));
  /** The shell of the installation: its data folder, so the default SQLite file and the same secret key. */
  const installation = { LATCHKEY_DATA_DIR: dataDir };
  let cluster: PostgresCluster | null = null;
  let smtp: TestSmtpServer;
  let target: string;
  let copy: Run;
  /** What the people of the installation hold from before the move. */
  let loggedIn: WebClient;
  let handLink: string;

  before(async () => {
    assert.ok(existsSync(path.join(ROOT, 'dist/cli/main.js')), 'run `npm run build` first: the test runs the built command');
    if (!TEST_POSTGRES_URL) cluster = await startPostgresCluster();
    // The relay demands its password: mail gets through only if the sealed SMTP password still opens.
    smtp = await startSmtpServer({
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) =>
        auth.username === 'relay' && auth.password === RELAY_PASSWORD ? callback(null, { user: 'relay' }) : callback(new Error('535 wrong password')),
    });

    // The installation as it runs today: SQLite (even in the PostgreSQL pass), no mail worker, so mail waits in the queue.
    const sqlite = await startTestApp({
      startWorker: false,
      env: { LATCHKEY_DATABASE_URL: `sqlite:${path.join(dataDir, 'latchkey.db')}`, LATCHKEY_BASE_URL: BASE_URL, ...installation },
    });
    try {
      await sqlite.createUser({ email: 'ada@example.com', name: 'Ada Admin', admin: true });
      const forgetful = await sqlite.createUser({ email: 'fred@example.com', name: 'Fred Forgetful' });
      const waiting = await sqlite.createUser({ email: 'wendy@example.com', name: 'Wendy Waiting' });
      await sqlite.services.mailServers.save(
        null,
        { name: 'Relay', host: '127.0.0.1', port: String(smtp.port), security: 'none', username: 'relay', password: RELAY_PASSWORD, from: '' },
        COMMAND_LINE,
      );
      loggedIn = await logIn(sqlite.url, 'ada@example.com', GOOD_PASSWORD);
      assert.equal((await loggedIn.get('/account')).status, 200);
      handLink = (await sqlite.services.recovery.linkForHand(forgetful.id, COMMAND_LINE)).link;
      await sqlite.services.recovery.sendInstructions(waiting.id, COMMAND_LINE, 'cli');
      const queued = await sqlite.services.db.selectFrom('mail_messages').select(['status', 'sealed_token']).execute();
      assert.deepEqual(queued.map((m) => [m.status, m.sealed_token !== null]), [['queued', true]], 'the reset mail waits in the queue, its token sealed');
    } finally {
      // The README's advice: stop the server before copying.
      await sqlite.close();
    }

    const url = new URL(await createDatabase(TEST_POSTGRES_URL ?? cluster!.url, 'latchkey_move'));
    url.password = URL_PASSWORD;
    target = url.toString();
  });

  after(async () => {
    await smtp?.close();
    cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the copy shows each table\'s progress, prints the same counts on both sides and says the secret must go along', async () => {
    copy = await latchkey(['db', 'copy', '--to', target], installation);
    assert.equal(copy.code, 0, `db copy exits 0 (stdout: ${copy.stdout}, stderr: ${copy.stderr})`);
    const counts = countsIn(copy.stdout);
    const expected = { users: 3, sessions: 1, reset_links: 2, mail_messages: 1, mail_servers: 1 };
    for (const [table, rows] of Object.entries(expected)) assert.deepEqual(counts.get(table), [rows, rows], `${table}: ${rows} rows on both sides`);
    const [audit, copiedAudit] = counts.get('audit_events') ?? [0, -1];
    assert.ok(audit > 0 && audit === copiedAudit, 'the audit log comes along');
    assert.match(copy.stderr, /^users: 3 \/ 3$/m, 'progress per table on stderr');

    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>("select tablename as name from pg_tables where schemaname = current_schema() and tablename not like 'kysely%'");
      assert.deepEqual([...counts.keys()].sort(), rows.map((row) => row.name).sort(), 'every table of the schema is counted');
    } finally {
      await client.end();
    }
    assert.match(copy.stdout, /the counts match/);
    assert.ok(copy.stdout.includes(path.join(dataDir, 'secret.key')), 'names the secret key that must go along');
    assert.ok(!`${copy.stdout}${copy.stderr}`.includes(URL_PASSWORD), 'the password in the URL is never printed');
  });

  describe('Latchkey on the PostgreSQL copy', () => {
    let lk: TestApp;

    before(async () => {
      assert.equal(copy?.code, 0, 'the copy succeeded');
      lk = await startTestApp({ env: { LATCHKEY_DATABASE_URL: target, LATCHKEY_BASE_URL: BASE_URL, ...installation } });
    });
    after(async () => {
      await lk?.close();
    });

    it('an existing password still logs in, and the audit log carries on after the copied events', async () => {
      const before = await lk.services.db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow();
      const client = await logIn(lk.url, 'ada@example.com', GOOD_PASSWORD);
      assert.ok(client.last!.url.includes('/account'), `landed on ${client.last!.url}`);
      const events = await lk.services.db.selectFrom('audit_events').select(['id', 'type']).where('id', '>', Number(before.id)).execute();
      assert.ok(events.length > 0, 'the login was recorded with new ids');
    });

    it('a session started before the move is still logged in', async () => {
      const browser = new WebClient(lk.url);
      for (const [name, value] of loggedIn.cookies) browser.cookies.set(name, value);
      const page = await browser.get('/account');
      assert.equal(page.status, 200);
      assert.ok(page.url.endsWith('/account'), `stayed on the account page, not ${page.url}`);
      assert.match(textOf(page.html), /ada@example\.com/);
    });

    it('a reset link handed out before the move finishes the reset', async () => {
      const browser = new WebClient(lk.url);
      let page = await browser.get(local(handLink));
      assert.ok(page.url.endsWith('/reset-password/new'), `the link opens the new-password form, not ${page.url}`);
      page = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
      const again = await logIn(lk.url, 'fred@example.com', NEW_PASSWORD);
      assert.ok(again.last!.url.includes('/account'), 'the new password logs in');
    });

    it('the mail queued before the move goes out through the stored server, and its link works', async () => {
      const mail = await smtp.waitForMail((m) => m.to.includes('wendy@example.com') && m.subject === 'Password reset for Wendy Waiting', 15_000);
      const browser = new WebClient(lk.url);
      let page = await browser.get(local(resetLinkIn(mail)));
      assert.ok(page.url.endsWith('/reset-password/new'), `the mailed link opens the new-password form, not ${page.url}`);
      page = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
      assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
    });
  });

  it('a second copy into the now non-empty database is refused, and nothing is added', async () => {
    const again = await latchkey(['db', 'copy', '--to', target], installation);
    const line = oneLineError(again, 'a second copy');
    assert.match(line, /^latchkey: the target database is not empty: .*users \(3 rows\)/);
    assert.ok(!again.stderr.includes(URL_PASSWORD));
  });

  it('a source left behind by an older version is refused until it is migrated', async () => {
    const behind = path.join(dataDir, 'behind.db');
    const db = openDatabase({ kind: 'sqlite', path: behind });
    await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo(Object.keys(migrations)[0]!);
    await db.destroy();
    const fresh = await createDatabase(TEST_POSTGRES_URL ?? cluster!.url, 'latchkey_move');
    const line = oneLineError(await latchkey(['db', 'copy', '--from', `sqlite:${behind}`, '--to', fresh], installation), 'an old source');
    assert.match(line, /the source database's schema is not up to date: run "latchkey migrate"/);
  });

  it('a bad URL gets one line that never shows its password, and a missing --to is wrong usage', async () => {
    const wrongScheme = oneLineError(await latchkey(['db', 'copy', '--to', `mysql://root:${URL_PASSWORD}@db.example.com/latchkey`], installation), 'a mysql URL');
    assert.match(wrongScheme, /--to must start with sqlite: or postgres:\/\//);
    const unreachable = oneLineError(await latchkey(['db', 'copy', '--to', `postgres://latchkey:${URL_PASSWORD}@127.0.0.1:1/latchkey`], installation), 'a closed port');
    assert.match(unreachable, /cannot open the target database \(PostgreSQL 127\.0\.0\.1:1\/latchkey\)/);
    for (const line of [wrongScheme, unreachable]) assert.ok(!line.includes(URL_PASSWORD), `no password in "${line}"`);
    const same = oneLineError(await latchkey(['db', 'copy', '--to', `sqlite:${path.join(dataDir, 'latchkey.db')}`], installation), 'a copy onto itself');
    assert.match(same, /the source and the target are the same database/);
    const usage = await latchkey(['db', 'copy'], installation);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^latchkey: db copy needs --to/);
  });
});
