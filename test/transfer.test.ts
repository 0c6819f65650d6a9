// Moving users in and out: `latchkey users import` / `users export` as real processes, and password hashes made by
// other systems' own code logging in through the login form and coming out as Latchkey's argon2id.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Algorithm, hash as argon2Hash } from '@node-rs/argon2';
import { hashPassword as betterAuthHash } from '@better-auth/utils/password';
import bcrypt from 'bcryptjs';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Db } from '../src/infra/db.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { readImportedHash } from '../src/modules/passwords/imported-hashes.ts';
import { codeAt } from '../src/modules/twostep/totp.ts';
import { verifyPassword } from '../src/modules/passwords/hashing.ts';
import { upgradeHash } from '../src/modules/users/users.repo.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { latchkey as runLatchkey } from './support/cli.ts';
import { WebClient } from './support/client.ts';
import { freshDatabaseUrl } from './support/database.ts';

const LATCHKEY_ARGON2ID = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/;

/** Passlib's pbkdf2_sha512 with its adapted base64, computed with node:crypto. */
function passlibPbkdf2Sha512(password: string, salt: Buffer, rounds: number): string {
  const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replaceAll('+', '.');
  return `$pbkdf2-sha512$${rounds}$${ab64(salt)}$${ab64(pbkdf2Sync(password, salt, rounds, 64, 'sha512'))}`;
}

// passlib's own test vector for pbkdf2_sha512 (passlib/tests/test_handlers.py): the password "password".
const PASSLIB_PUBLISHED = '$pbkdf2-sha512$1212$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI.BzY/YTNJOiKc5gBYFYGww';

/** `latchkey …` from the sources, as a user runs it; stdout and stderr are pipes (not a terminal). */
const latchkey = (args: string[], env: Record<string, string>, input?: string) => runLatchkey(args, { env, input });

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A data folder with a fresh database (SQLite, or PostgreSQL in that pass). */
async function freshInstallation(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-transfer-'));
  dirs.push(dir);
  const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir, 'db'), LATCHKEY_DATA_DIR: dir };
  const migrated = await latchkey(['migrate'], env);
  assert.equal(migrated.code, 0, migrated.stderr);
  return { dir, env };
}

async function readDatabase<T>(env: Record<string, string>, dir: string, read: (db: Db) => Promise<T>): Promise<T> {
  const db = openDatabase(loadConfig(env, dir).database);
  try {
    return await read(db);
  } finally {
    await db.destroy();
  }
}

/** What an installation holds that an import writes: users and their audit events. */
async function snapshot(env: Record<string, string>, dir: string) {
  return readDatabase(env, dir, async (db) => ({
    users: await db.selectFrom('users').select(['email', 'name', 'role', 'status', 'password_hash']).orderBy('email').execute(),
    created: (await db.selectFrom('audit_events').select('id').where('type', '=', 'user.created').execute()).length,
  }));
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('latchkey users import and export', { concurrency: true }, () => {
  it('a CSV import goes round: export --with-hashes, import into a new installation, export again — the same users, archived ones too', async () => {
    const first = await freshInstallation();
    const bcryptHash = bcrypt.hashSync('Old-Bcrypt-Pass-1', 4);
    const betterAuth = await betterAuthHash('Better-Auth-Pass-1');
    const csv = write(
      first.dir,
      'people.csv',
      // With a byte order mark, as spreadsheets save CSV.
      '\uFEFF' +
      [
        'email,name,role,status,password_hash',
        'Ada.Admin@Example.com,Ada Admin,admin,active,',
        `bo@example.com,"Builder, Bo",user,archived,${bcryptHash}`,
        `"cy@example.com","Cy ""Quote"" Quinn",,,${PASSLIB_PUBLISHED}`,
        'zed@example.com,=HYPERLINK("http://x.example"),user,active,',
        `dee@example.com,Dee Dee,user,active,${betterAuth}`,
      ].join('\r\n') + '\r\n',
    );
    const imported = await latchkey(['users', 'import', csv], first.env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout, 'Created 5, skipped 0, refused 0.\n');
    assert.match(imported.stderr, /^import: 5 of 5 \(\d+\/s, [\d.]+ s\)$/m, 'plain progress lines when stderr is not a terminal');

    const out = path.join(first.dir, 'out.jsonl');
    const exported = await latchkey(['users', 'export', '--with-hashes', '--output', out], first.env);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^Exported 5 user\(s\) to .*out\.jsonl with their password hashes: keep the file secret\.$/m);
    assert.equal(statSync(out).mode & 0o777, 0o600, 'a file of hashes is readable by its owner only');
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(lines[1], { name: 'Builder, Bo', email: 'bo@example.com', role: 'user', status: 'archived', password_hash: bcryptHash });
    const [salt, key] = betterAuth.split(':');
    assert.equal(lines[3]!.password_hash, `$better-auth-scrypt$${salt}$${key}`, "Better Auth's hash under its prefix");

    const second = await freshInstallation();
    const again = await latchkey(['users', 'import', out], second.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await snapshot(second.env, second.dir), await snapshot(first.env, first.dir));

    const [csvOut, jsonOut] = await Promise.all([latchkey(['users', 'export'], second.env), latchkey(['users', 'export', '--format', 'jsonl'], second.env)]);
    assert.equal(csvOut.code, 0, csvOut.stderr);
    assert.equal(
      csvOut.stdout,
      [
        'name,email,role,status',
        'Ada Admin,ada.admin@example.com,admin,active',
        '"Builder, Bo",bo@example.com,user,archived',
        '"Cy ""Quote"" Quinn",cy@example.com,user,active',
        'Dee Dee,dee@example.com,user,active',
        `"'=HYPERLINK(""http://x.example"")",zed@example.com,user,active`,
      ].join('\r\n') + '\r\n',
      'CSV without hashes by default; a cell a spreadsheet would run starts with an apostrophe',
    );
    assert.equal(jsonOut.code, 0, jsonOut.stderr);
    assert.doesNotMatch(jsonOut.stdout, /password_hash|\$2[aby]\$|pbkdf2/, 'no hashes without --with-hashes');
    assert.equal(jsonOut.stdout.trimEnd().split('\n').length, 5);
    const audit = await readDatabase(second.env, second.dir, (db) => db.selectFrom('audit_events').select(['type', 'detail']).where('type', 'in', ['users.imported', 'users.exported']).orderBy('id').execute());
    assert.deepEqual(audit.map((event) => event.type), ['users.imported', 'users.exported', 'users.exported']);
    // The two exports ran side by side: either may be recorded first.
    assert.deepEqual(audit.slice(1).map((event) => JSON.parse(event.detail!) as { format: string }).sort((a, b) => a.format.localeCompare(b.format)), [
      { users: 5, withHashes: false, format: 'csv' },
      { users: 5, withHashes: false, format: 'jsonl' },
    ]);
  });

  it('bad rows are reported by line number with a reason and skipped; the good rows are created', async () => {
    const { dir, env } = await freshInstallation();
    const csv = write(
      dir,
      'mixed.csv',
      [
        'name,email,role',
        'Ann One,ann@example.com,user',
        'Two Lines,"two@',
        'example.com",user',
        'Ann Again,ANN@example.com,user',
        'No Role,norole@example.com,owner',
        ',nameless@example.com,user',
        'Too,many@example.com,user,extra',
        '',
        'Gus Good,gus@example.com,admin',
      ].join('\n') + '\n',
    );
    const result = await latchkey(['users', 'import', csv], env);
    assert.equal(result.code, 1);
    assert.equal(
      result.stdout,
      [
        'line 3: email: An email address cannot contain line breaks.',
        'line 5: the email ann@example.com is also on line 2',
        'line 6: role: "owner" is not a role (user or admin)',
        'line 7: name: missing',
        'line 8: 4 fields where the header has 3',
        'Created 2, skipped 5, refused 0.',
      ].join('\n') + '\n',
    );
    assert.match(result.stderr, /^latchkey: 5 row\(s\) were not imported$/m);
    assert.deepEqual((await snapshot(env, dir)).users.map((user) => [user.email, user.role]), [['ann@example.com', 'user'], ['gus@example.com', 'admin']]);

    const jsonl = write(dir, 'more.jsonl', ['{"name":"Ann Existing","email":"Ann@Example.com"}', '', 'not json', '{"name":"Hal","email":"hal@example.com","password_hash":"$2b$10$short"}', '{"name":"Ivy","email":"ivy@example.com","colour":"red"}', '{"name":"Jo","email":"jo@example.com","status":"Archived"}'].join('\n'));
    const more = await latchkey(['users', 'import', jsonl], env);
    assert.equal(more.code, 1);
    assert.equal(
      more.stdout,
      [
        'line 1: a user with this email already exists',
        'line 3: not valid JSON',
        'line 4: password_hash: the bcrypt hash is malformed (expected $2a$, $2b$ or $2y$, a two-digit cost and 53 characters)',
        'line 5: unknown field "colour" (known: name, email, role, status, password_hash)',
        'Created 1, skipped 4, refused 0.',
      ].join('\n') + '\n',
    );
    assert.equal((await snapshot(env, dir)).users.find((user) => user.email === 'jo@example.com')?.status, 'archived');
  });

  it('--all-or-nothing refuses the whole import when one row is bad, and the database is unchanged', async () => {
    const { dir, env } = await freshInstallation();
    await latchkey(['users', 'add', '--email', 'kept@example.com', '--name', 'Kept Person'], env);
    const before = await snapshot(env, dir);
    const rows = ['name,email'];
    for (let i = 0; i < 2500; i++) rows.push(`Person ${i},person${i}@example.com`);
    rows.push('Kept Again,KEPT@example.com');
    const file = write(dir, 'all.csv', rows.join('\n'));
    const refused = await latchkey(['users', 'import', '--all-or-nothing', file], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, 'line 2502: a user with this email already exists\nCreated 0, skipped 0, refused 2501 (--all-or-nothing: nothing was written).\n');
    assert.match(refused.stderr, /^latchkey: the import was refused: fix the rows above and run it again$/m);
    assert.deepEqual(await snapshot(env, dir), before, 'no user and no audit event of one written');

    writeFileSync(file, rows.slice(0, -1).join('\n'));
    const accepted = await latchkey(['users', 'import', file, '--all-or-nothing'], env);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, 'Created 2500, skipped 0, refused 0.\n');
    const after = await snapshot(env, dir);
    assert.equal(after.users.length, 2501);
    assert.equal(after.created, before.created + 2500, 'one user.created event per imported user');

    const exported = await latchkey(['users', 'export', '--format', 'jsonl'], env);
    assert.equal(exported.stdout.trimEnd().split('\n').length, 2501, 'the export reads every page');
  });

  it('wrong usage exits 2: a file whose name says no format, an unknown --format, standard input without --format; an unknown CSV column exits 1 with one line; "-" with --format imports standard input', async () => {
    const { dir, env } = await freshInstallation();
    const noFormat = await latchkey(['users', 'import', write(dir, 'people.txt', 'name,email\n')], env);
    assert.equal(noFormat.code, 2);
    assert.match(noFormat.stderr, /cannot tell the format of ".*people\.txt" from its name: give --format csv or --format jsonl/);
    const badFormat = await latchkey(['users', 'export', '--format', 'xml'], env);
    assert.equal(badFormat.code, 2);
    const unknownColumn = await latchkey(['users', 'import', '--format', 'csv', write(dir, 'cols.txt', 'name,email,phone\nA,a@example.com,1\n')], env);
    assert.equal(unknownColumn.code, 1);
    assert.match(unknownColumn.stderr, /^latchkey: .*cols\.txt: line 1: the header names an unknown column "phone" \(known: name, email, role, status, password_hash\)\n$/);
    const stdinNoFormat = await latchkey(['users', 'import', '-'], env, '');
    assert.equal(stdinNoFormat.code, 2, 'standard input needs --format');
    const fromStdin = await latchkey(['users', 'import', '-', '--format', 'jsonl'], env, '{"name":"Piped Person","email":"piped@example.com"}\n');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, 'Created 1, skipped 0, refused 0.\n');
  });
});

describe('password hashes from other systems', () => {
  let lk: TestApp;
  before(async () => {
    lk = await startTestApp();
  });
  after(async () => {
    await lk.close();
  });

  const storedHash = async (email: string) => (await lk.services.users.findByEmail(email))?.password_hash ?? null;

  async function importOne(email: string, passwordHash: string) {
    const report = await lk.services.userImport.run([{ line: 2, fields: { name: 'Moved Person', email, password_hash: passwordHash } }], { actor: COMMAND_LINE });
    assert.equal(report.created, 1, JSON.stringify(report.rows));
  }

  async function logIn(email: string, password: string): Promise<string> {
    const client = new WebClient(lk.url);
    await client.get('/login');
    return (await client.post('/login', { email, password })).url;
  }

  it("the test's passlib pbkdf2_sha512 reproduces passlib's published example", () => {
    const [, , rounds, salt] = PASSLIB_PUBLISHED.split('$');
    assert.equal(passlibPbkdf2Sha512('password', Buffer.from(salt!.replaceAll('.', '+'), 'base64'), Number(rounds)), PASSLIB_PUBLISHED);
  });

  const formats: Array<[string, string, () => Promise<string>]> = [
    ["passlib's published pbkdf2_sha512 example", 'password', async () => PASSLIB_PUBLISHED],
    ['pbkdf2_sha512 as Odoo stores it (600,000 rounds, a non-ASCII password)', 'Ödön-Pässwort-1', async () => passlibPbkdf2Sha512('Ödön-Pässwort-1', randomBytes(16), 600_000)],
    ['bcrypt $2b$ from bcryptjs', 'Bcrypt-Old-Pass-2', async () => bcrypt.hash('Bcrypt-Old-Pass-2', 10)],
    ['bcrypt $2a$ from bcryptjs', 'Bcrypt-Old-Pass-3', async () => (await bcrypt.hash('Bcrypt-Old-Pass-3', 8)).replace(/^\$2b\$/, '$2a$')],
    ['bcrypt $2y$ as PHP writes it', 'Bcrypt-Old-Pass-4', async () => (await bcrypt.hash('Bcrypt-Old-Pass-4', 8)).replace(/^\$2b\$/, '$2y$')],
    ["Better Auth's scrypt (salt:key), made by Better Auth's own code", 'Better-Auth-Pass-5', () => betterAuthHash('Better-Auth-Pass-5')],
    ['argon2i', 'Argon2i-Pass-6', () => argon2Hash('Argon2i-Pass-6', { algorithm: Algorithm.Argon2i, memoryCost: 8192, timeCost: 3, parallelism: 1 })],
    ['argon2d', 'Argon2d-Pass-7', () => argon2Hash('Argon2d-Pass-7', { algorithm: Algorithm.Argon2d, memoryCost: 4096, timeCost: 2, parallelism: 2 })],
    ['argon2id with other parameters', 'Argon2id-Pass-8', () => argon2Hash('Argon2id-Pass-8', { algorithm: Algorithm.Argon2id, memoryCost: 65536, timeCost: 3, parallelism: 4 })],
  ];
  formats.forEach(([label, password, make], i) => {
    it(`${label}: a wrong password is refused, the right one logs in through the form and the hash becomes Latchkey's argon2id`, async () => {
      const email = `moved${i}@example.com`;
      const original = await make();
      await importOne(email, original);
      const kept = await storedHash(email);
      assert.ok(kept, 'a hash is stored');
      assert.doesNotMatch(kept, LATCHKEY_ARGON2ID);

      assert.match(await logIn(email, `${password}x`), /\/login/, 'a wrong password does not log in');
      assert.equal(await storedHash(email), kept, 'a failed login changes nothing');

      assert.match(await logIn(email, password), /\/account$/, 'the old password logs in');
      const rehashed = await storedHash(email);
      assert.match(rehashed ?? '', LATCHKEY_ARGON2ID, 'rehashed to argon2id at that login');
      assert.notEqual(rehashed, kept, 'the imported hash is gone');
      assert.match(await logIn(email, password), /\/account$/, 'and the same password goes on working');
    });
  });

  it('a moved account with two-step verification: the right password upgrades the hash already, before the second step', async () => {
    const email = 'moved-two-step@example.com';
    const password = 'Bcrypt-Two-Step-9';
    await importOne(email, await bcrypt.hash(password, 8));
    const kept = await storedHash(email);
    const user = (await lk.services.users.findByEmail(email))!;
    const setup = await lk.services.twoStep.newSetup(user);
    await lk.services.twoStep.enable(user, setup.secret, codeAt(setup.secret, lk.services.clock.now()), COMMAND_LINE);

    assert.match(await logIn(email, `${password}x`), /\/login$/, 'a wrong password goes nowhere');
    assert.equal(await storedHash(email), kept, 'and changes nothing');
    assert.match(await logIn(email, password), /\/login\/two-step$/, 'the right password leads to the second step');
    const upgraded = await storedHash(email);
    assert.match(upgraded ?? '', LATCHKEY_ARGON2ID, 'the hash is upgraded at the first step');
    assert.ok((await verifyPassword(upgraded, password)).ok, 'and still takes the same password');
  });

  it('an upgrade never overwrites a password changed meanwhile', async () => {
    const email = 'moved-race@example.com';
    await importOne(email, await bcrypt.hash('Bcrypt-Race-Pass-10', 8));
    const imported = (await storedHash(email))!;
    const user = (await lk.services.users.findByEmail(email))!;
    await lk.services.db.updateTable('users').set({ password_hash: 'changed-meanwhile' }).where('id', '=', user.id).execute();
    assert.equal(await upgradeHash(lk.services.db, user.id, imported, 'stronger-hash-of-the-old-password'), false);
    assert.equal(await storedHash(email), 'changed-meanwhile');
  });

  it('a hash in no known format, or asking for too much work, refuses the row with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['plaintext-password', /in no format Latchkey reads/],
      ['$1$saltsalt$abcdefghijklmnopqrstuv', /in no format Latchkey reads/],
      ['$pbkdf2-sha256$29000$abc$def', /in no format Latchkey reads/],
      ['$pbkdf2-sha512$1212$RHY0Fr3IDMSVO/RSZyb5ow$tooshort', /pbkdf2-sha512 hash is malformed/],
      ['$pbkdf2-sha512$99999999$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI.BzY/YTNJOiKc5gBYFYGww', /99999999 rounds \(at most 5,000,000\)/],
      [`$2b$20$${'a'.repeat(53)}`, /bcrypt hash has cost 20 \(4 to 15\)/],
      ['$2x$10$abc', /bcrypt hash is malformed/],
      ['$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo', /argon2 hash asks for m=4194304/],
      ['$argon2id$v=19$m=65536$c2FsdA$aGFzaA', /argon2 hash is malformed/],
      [`${'ab'.repeat(16)}:${'cd'.repeat(10)}`, /Better Auth scrypt hash is malformed/],
    ];
    for (const [hash, reason] of cases) {
      const read = readImportedHash(hash);
      assert.equal(read.ok, false, hash);
      if (!read.ok) assert.match(read.problem, reason, hash);
    }
  });

  it("a bcrypt comparison runs off the server's thread: the event loop goes on turning meanwhile", async () => {
    const stored = await bcrypt.hash('Bcrypt-Cost-Twelve-9', 12);
    let turns = 0;
    let done = false;
    const spin = () => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    const result = await verifyPassword(stored, 'Bcrypt-Cost-Twelve-9');
    done = true;
    assert.deepEqual(result, { ok: true, needsRehash: true });
    // On the main thread bcryptjs yields between its chunks only: a few dozen turns for cost 12 (measured: 22).
    assert.ok(turns > 1000, `${turns} turns of the event loop during the comparison`);
  });

  it('a stored hash in no known format never logs in and answers like a wrong password', async () => {
    await lk.createUser({ email: 'odd@example.com', name: 'Odd Hash' });
    await lk.services.db.updateTable('users').set({ password_hash: '$2b$10$not-a-real-bcrypt-hash' }).where('email', '=', 'odd@example.com').execute();
    const client = new WebClient(lk.url);
    await client.get('/login');
    const page = await client.post('/login', { email: 'odd@example.com', password: 'anything-at-all' });
    assert.equal(page.status, 401);
    assert.match(page.html, /Wrong email or password\./);
  });
});
