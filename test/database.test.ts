// What the two databases must agree on, checked on the database of this pass (SQLite, or PostgreSQL).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { dialectOf, migrateToLatest, migrationsCurrent, onOneInstance, openDatabase, type Db } from '../src/infra/db.ts';
import { openReportReader } from '../src/infra/report-reader.ts';
import { sql } from 'kysely';
import { freshDatabaseUrl, onPostgres } from './support/database.ts';

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
});
