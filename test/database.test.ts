// What the two databases must agree on, checked on the database of this pass (SQLite, or PostgreSQL).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { dialectOf, migrateToLatest, migrationsCurrent, onOneInstance, openDatabase, type Db } from '../src/infra/db.ts';
import { openReportReader } from '../src/infra/report-reader.ts';
import { Migrator, sql } from 'kysely';
import { migrations } from '../src/infra/migrations.ts';
import { deleteClientArtifacts, type OidcTables } from '../src/modules/oidc/oidc.repo.ts';
import { freshDatabaseUrl, onPostgres } from './support/database.ts';
import { claimRequests, insertRequests } from '../src/modules/recovery/reset-requests.repo.ts';

const dirs: string[] = [];
const databases: Db[] = [];
after(async () => {
  for (const db of databases) await db.destroy();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function freshDatabase(): Promise<Db> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-db-'));
  dirs.push(dir);
  const db = openDatabase(loadConfig({ LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir), LATCHKEY_DATA_DIR: dir }, dir).database);
  databases.push(db);
  return db;
}

describe(`the database (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('migrations bring an empty database up to date once; a second run has nothing to do', async () => {
    const db = await freshDatabase();
    assert.equal(dialectOf(db), onPostgres ? 'postgres' : 'sqlite');
    assert.equal(await migrationsCurrent(db), false);
    assert.ok((await migrateToLatest(db)).length > 0);
    assert.equal(await migrationsCurrent(db), true);
    assert.deepEqual(await migrateToLatest(db), []);
  });

  it('times and counts come back as numbers, and audit entries are numbered in the order written', async () => {
    const db = await freshDatabase();
    await migrateToLatest(db);
    const at = Date.UTC(2026, 11, 1, 12, 0, 0, 123);
    for (const type of ['first', 'second', 'third']) await db.insertInto('audit_events').values({ at, type, user_id: null, actor_id: null, email: null, ip: null, user_agent: null, detail: null }).execute();
    const rows = await db.selectFrom('audit_events').select(['id', 'at', 'type']).orderBy('id').execute();
    assert.deepEqual(rows.map((row) => row.type), ['first', 'second', 'third']);
    assert.equal(typeof rows[0]!.id, 'number');
    assert.equal(rows[0]!.at, at, 'a millisecond time survives the round trip as a number');
    const count = await db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(count.n, 3);
  });

  it('a claim takes at most its batch: waiting reset requests are claimed 50 at a time, oldest first, each once', async () => {
    const db = await freshDatabase();
    await migrateToLatest(db);
    const now = Date.now();
    const rows = Array.from({ length: 180 }, (_, i) => ({ id: `request-${String(i).padStart(3, '0')}`, email: `r${i}@example.com`, typed: `r${i}@example.com`, ip: null, user_agent: null, requested_at: now - 1000 + i, claim_id: null, lease_until: null, language: null }));
    await insertRequests(db, rows);
    const claims = await Promise.all([0, 1, 2, 3].map((i) => claimRequests(db, `claim-${i}`, now, 60_000, 50)));
    for (const claim of claims) assert.ok(claim.length <= 50, `a claim of ${claim.length}`);
    const ids = claims.flat().map((row) => row.id);
    assert.equal(new Set(ids).size, ids.length, 'no request claimed twice');
    assert.equal(ids.length, 180, 'every request claimed by one of the four');
  });

  it('a chore meant for one instance runs on one: while one holds it, another skips it', async () => {
    const db = await freshDatabase();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = onOneInstance(db, 'test chore', async () => {
      started();
      await held;
    });
    await running;
    if (onPostgres) {
      // Another instance (another connection of the pool) tries meanwhile and skips.
      assert.equal(await onOneInstance(db, 'test chore', async () => assert.fail('ran twice at once')), false);
      assert.equal(await onOneInstance(db, 'another chore', async () => undefined), true, 'other chores are not held up');
      release();
    } else {
      // SQLite has one server: the second call waits its turn and then runs.
      const second = onOneInstance(db, 'test chore', async () => undefined);
      release();
      assert.equal(await second, true);
    }
    assert.equal(await first, true);
    assert.equal(await onOneInstance(db, 'test chore', async () => undefined), true, 'free again once the first is done');
  });

  it('a long report read leaves the server free meanwhile, reads what was written, and cannot write', async () => {
    const db = await freshDatabase();
    await migrateToLatest(db);
    const reports = openReportReader(db);
    try {
      await db.insertInto('audit_events').values({ at: 1, type: 'reset.requested', user_id: null, actor_id: null, email: 'a@example.com', ip: null, user_agent: null, detail: null }).execute();
      const read = await reports.selectFrom('audit_events').select(['type', 'email', 'at']).execute();
      assert.deepEqual(read, [{ type: 'reset.requested', email: 'a@example.com', at: 1 }], 'a committed write is read at once');

      // A read that takes a while (a few million rows counted): the server's own turn (setImmediate) comes first.
      const order: string[] = [];
      const long = sql<{ n: number }>`with recursive r(i) as (select 1 union all select i + 1 from r where i < 3000000) select count(*) as n from r`
        .execute(reports)
        .then(() => order.push('report'));
      setImmediate(() => order.push('server'));
      await long;
      assert.deepEqual(order, ['server', 'report'], 'the report did not hold the thread that serves requests');

      if (!onPostgres) {
        await assert.rejects(sql`delete from audit_events`.execute(reports), /only reads/, 'on SQLite the reader cannot write');
        assert.equal((await db.selectFrom('audit_events').select('id').execute()).length, 1);
      }
    } finally {
      if (reports !== db) await reports.destroy();
    }
  });

  it('0015 gives every stored provider artifact its application (client_id, indexed), and removing an application goes by it', async () => {
    const db = await freshDatabase();
    await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo('0014_oidc');
    const row = (model: string, id: string, payload: Record<string, unknown>) => ({
      model,
      id,
      payload: JSON.stringify(payload),
      grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
      user_code: null,
      uid: null,
      account_id: typeof payload.accountId === 'string' ? payload.accountId : null,
      expires_at: null,
      consumed_at: null,
    });
    const rows = [
      row('Grant', 'g1', { clientId: 'app_wiki', accountId: 'u1' }),
      row('AccessToken', 'a1', { clientId: 'app_wiki', accountId: 'u1', grantId: 'g1' }),
      row('RefreshToken', 'r1', { clientId: 'app_wiki', accountId: 'u2', grantId: 'g2' }),
      row('Grant', 'g3', { clientId: 'app_wiki_2', accountId: 'u1' }),
      row('Session', 's1', { accountId: 'u1', authorizations: { app_wiki: { grantId: 'g1' } } }),
    ];
    await sql`insert into oidc_models (model, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at) values ${sql.join(
      rows.map((r) => sql`(${r.model}, ${r.id}, ${r.payload}, ${r.grant_id}, ${r.user_code}, ${r.uid}, ${r.account_id}, ${r.expires_at}, ${r.consumed_at})`),
    )}`.execute(db);
    await migrateToLatest(db);

    const models = db.withTables<OidcTables>();
    const stored = await models.selectFrom('oidc_models').select(['id', 'client_id']).orderBy('id').execute();
    assert.deepEqual(stored, [
      { id: 'a1', client_id: 'app_wiki' },
      { id: 'g1', client_id: 'app_wiki' },
      { id: 'g3', client_id: 'app_wiki_2' },
      { id: 'r1', client_id: 'app_wiki' },
      { id: 's1', client_id: null },
    ]);
    const { rows: indexes } = onPostgres
      ? await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'oidc_models'`.execute(db)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'oidc_models'`.execute(db);
    assert.ok(indexes.some((index) => index.name === 'oidc_models_client'), 'an index on client_id');

    // One user's "Revoke", then the application's removal: only that application's rows, never a session.
    assert.deepEqual(await deleteClientArtifacts(db, 'app_wiki', 'u1'), { grants: 1, accounts: ['u1'], rows: 2 });
    assert.deepEqual(await deleteClientArtifacts(db, 'app_wiki', null), { grants: 0, accounts: ['u2'], rows: 1 });
    assert.deepEqual((await models.selectFrom('oidc_models').select('id').orderBy('id').execute()).map((r) => r.id), ['g3', 's1']);
  });
});
