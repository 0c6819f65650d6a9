// Copies every table of one Latchkey database into another, empty one (SQLite → PostgreSQL when an installation moves up), in one target transaction.
import { sql, type Kysely, type TableMetadata } from 'kysely';
import { UserError } from './errors.ts';
import { dialectOf, migrateToLatest, migrationsCurrent, type Db } from './db.ts';
import { migrations } from './migrations.ts';

// The tables are found in the schema, not named here: the query builder sees them untyped.
type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Row = Record<string, unknown>;

export interface TableCount {
  table: string;
  source: number;
  target: number;
}

export interface CopyOptions {
  /** Rows read and inserted at a time. */
  batchSize?: number;
  /** Called after every batch, and once per table when it is done. */
  progress?: (table: string, copied: number, total: number) => void;
}

export interface CopyResult {
  /** Every table of the schema, in the order copied (parents before the tables that refer to them). */
  counts: TableCount[];
  /** Tables the source has beyond the schema (left behind). */
  skipped: string[];
}

/** Statements carry at most this many values (PostgreSQL allows 65,535 parameters, SQLite 32,766). */
const MAX_PARAMETERS = 30_000;

/**
 * Refuses unless the source's schema is current and the target holds no rows; then brings the target to the
 * latest schema and copies every table in batches, reading the source from one snapshot and writing the
 * target in one transaction, so a failure leaves nothing half-written. Counts are checked before the
 * commit and again after it.
 */
export async function copyDatabase(source: Db, target: Db, options: CopyOptions = {}): Promise<CopyResult> {
  await refuseUnlessCurrent(source);
  await refuseUnlessEmpty(target);
  await migrateToLatest(target);

  const schema = await schemaTables(target);
  const sourceTables = new Map((await schemaTables(source)).map((table) => [table.name, table]));
  for (const table of schema) {
    const found = sourceTables.get(table.name);
    const missing = table.columns.filter((column) => !found?.columns.some((c) => c.name === column.name)).map((column) => column.name);
    if (!found) throw new UserError(`the source database has no table ${table.name}, though its migrations are current`);
    if (missing.length > 0) throw new UserError(`the source's table ${table.name} lacks the column(s) ${missing.join(', ')}`);
  }
  const skipped = [...sourceTables.keys()].filter((name) => !schema.some((table) => table.name === name));
  const ordered = await parentsFirst(target, schema);

  const counts = await inSnapshot(source, async (reader) => {
    const totals = new Map<string, number>();
    for (const table of ordered) totals.set(table.name, await countRows(reader, table.name));
    await target.transaction().execute(async (trx) => {
      // The target was empty before its migrations ran: rows in it now are what a migration seeds (the webhooks'
      // cursor), which the source has too, as it stands there.
      for (const table of [...ordered].reverse()) await trx.deleteFrom(table.name as never).execute();
      for (const table of ordered) {
        try {
          await copyTable(reader, trx, table, await primaryKeyOf(reader, table.name), totals.get(table.name)!, options);
        } catch (error) {
          if (error instanceof UserError) throw error;
          throw new UserError(`copying ${table.name} failed, so nothing was written: ${firstLine(error)}`);
        }
      }
      await moveSequencesPastCopiedIds(trx, ordered);
      const written = await Promise.all(ordered.map((table) => countRows(trx, table.name)));
      const wrong = ordered.filter((table, i) => written[i] !== totals.get(table.name));
      if (wrong.length > 0) {
        const detail = wrong.map((table) => `${table.name} has ${totals.get(table.name)} rows in the source but ${written[ordered.indexOf(table)]} were written`).join('; ');
        throw new UserError(`the copy does not match, so nothing was written: ${detail}`);
      }
    });
    return Promise.all(ordered.map(async (table) => ({ table: table.name, source: totals.get(table.name)!, target: await countRows(target, table.name) })));
  });
  return { counts, skipped };
}

/** Counts that differ after the commit, as one line for a person; null when every table matches. */
export function mismatchOf(counts: TableCount[]): string | null {
  const wrong = counts.filter((count) => count.source !== count.target);
  if (wrong.length === 0) return null;
  return `the copy does not match: ${wrong.map((count) => `${count.table} has ${count.source} rows in the source and ${count.target} in the target`).join('; ')}`;
}

async function refuseUnlessCurrent(source: Db): Promise<void> {
  const known = new Set(Object.keys(migrations));
  const hasLog = (await source.introspection.getTables({ withInternalKyselyTables: true })).some((table) => table.name === 'kysely_migration');
  const unknown = hasLog
    ? (await sql<{ name: string }>`select name from kysely_migration`.execute(source)).rows.map((row) => row.name).filter((name) => !known.has(name))
    : [];
  if (unknown.length > 0) {
    throw new UserError(`the source database was migrated by a newer Latchkey (${unknown.join(', ')}): copy it with that version`);
  }
  if (!(await migrationsCurrent(source))) {
    throw new UserError('the source database\'s schema is not up to date: run "latchkey migrate" on it (or start the server once), then copy');
  }
}

/** Before anything is created in it: a target that holds any row is refused. */
async function refuseUnlessEmpty(target: Db): Promise<void> {
  const filled: string[] = [];
  for (const table of await schemaTables(target)) {
    const rows = await countRows(target, table.name);
    if (rows > 0) filled.push(`${table.name} (${rows.toLocaleString('en-US')} ${rows === 1 ? 'row' : 'rows'})`);
  }
  if (filled.length > 0) {
    throw new UserError(`the target database is not empty: ${filled.join(', ')}; copy into a new, empty database`);
  }
}

/** The tables (not views) in the database's own schema, Kysely's migration log left out. */
async function schemaTables(db: Db): Promise<TableMetadata[]> {
  const tables = (await db.introspection.getTables()).filter((table) => !table.isView);
  if (dialectOf(db) === 'sqlite') return tables;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return tables.filter((table) => table.schema === rows[0]?.schema);
}

/** The tables ordered so that every table comes after the tables its foreign keys refer to. */
async function parentsFirst(db: Db, tables: TableMetadata[]): Promise<TableMetadata[]> {
  const parents = new Map<string, Set<string>>(tables.map((table) => [table.name, new Set()]));
  for (const { child, parent } of await foreignKeys(db)) {
    if (child !== parent) parents.get(child)?.add(parent);
  }
  const ordered: TableMetadata[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const ready = tables.filter((table) => !placed.has(table.name) && [...parents.get(table.name)!].every((parent) => placed.has(parent) || !parents.has(parent)));
    if (ready.length === 0) throw new UserError(`the tables ${tables.filter((t) => !placed.has(t.name)).map((t) => t.name).join(', ')} refer to each other in a cycle; they cannot be copied in order`);
    for (const table of ready) {
      ordered.push(table);
      placed.add(table.name);
    }
  }
  return ordered;
}

async function foreignKeys(db: Db): Promise<Array<{ child: string; parent: string }>> {
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<{ child: string; parent: string }>`
      select c.relname as child, p.relname as parent
      from pg_constraint k
      join pg_class c on c.oid = k.conrelid
      join pg_class p on p.oid = k.confrelid
      where k.contype = 'f' and c.relnamespace = current_schema()::text::regnamespace`.execute(db);
    return rows;
  }
  const { rows } = await sql<{ child: string; parent: string }>`
    select m.name as child, f."table" as parent
    from sqlite_master m, pragma_foreign_key_list(m.name) f
    where m.type = 'table'`.execute(db);
  return rows;
}

/** The primary key's columns in key order; empty for a table without one. */
async function primaryKeyOf(db: AnyDb, table: string): Promise<string[]> {
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<{ column: string }>`
      select a.attname as column
      from pg_index i
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
      where i.indrelid = to_regclass(${table}) and i.indisprimary
      order by array_position(i.indkey::int2[], a.attnum)`.execute(db);
    return rows.map((row) => row.column);
  }
  const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${table}) where pk > 0 order by pk`.execute(db);
  return rows.map((row) => row.name);
}

/**
 * Reads the table in primary-key order, one batch after the other (each batch starts past the last key
 * seen, so every batch is an index range, however large the table). A table without a primary key is read
 * in the order of all its columns.
 */
async function copyTable(reader: AnyDb, writer: AnyDb, table: TableMetadata, key: string[], total: number, options: CopyOptions): Promise<void> {
  const columns = table.columns.map((column) => column.name);
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, Math.floor(MAX_PARAMETERS / columns.length)));
  const order = key.length > 0 ? key : columns;
  let copied = 0;
  let last: Row | null = null;
  for (;;) {
    let query = reader.selectFrom(table.name).select(columns);
    if (key.length > 0 && last !== null) {
      const after: Row = last;
      query = query.where(sql<boolean>`(${sql.join(key.map((column) => sql.ref(column)))}) > (${sql.join(key.map((column) => after[column]))})`);
    }
    for (const column of order) query = query.orderBy(column);
    if (key.length === 0) query = query.offset(copied);
    const rows: Row[] = await query.limit(batchSize).execute();
    if (rows.length > 0) await writer.insertInto(table.name).values(rows).execute();
    copied += rows.length;
    last = rows.at(-1) ?? last;
    if (rows.length > 0 || copied === 0) options.progress?.(table.name, copied, total);
    if (rows.length < batchSize) return;
  }
}

/** Ids were copied as they are (the audit log's order): each identity sequence must continue past the largest. */
async function moveSequencesPastCopiedIds(trx: AnyDb, tables: TableMetadata[]): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  for (const table of tables) {
    for (const column of table.columns.filter((c) => c.isAutoIncrementing)) {
      await sql`select setval(pg_get_serial_sequence(${table.name}, ${column.name}), coalesce(max(${sql.ref(column.name)}), 0) + 1, false) from ${sql.table(table.name)}`.execute(trx);
    }
  }
}

async function countRows(db: AnyDb, table: string): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Runs `read` on one connection inside a read transaction: every table is read as of one moment, even while
 * a server writes. On SQLite the transaction is DEFERRED (a plain reader in WAL mode, never the write lock).
 */
async function inSnapshot<T>(db: Db, read: (reader: AnyDb) => Promise<T>): Promise<T> {
  const begin = dialectOf(db) === 'postgres' ? sql`begin isolation level repeatable read, read only` : sql`begin deferred`;
  return db.connection().execute(async (connection) => {
    await begin.execute(connection);
    try {
      return await read(connection as AnyDb);
    } finally {
      await sql`rollback`.execute(connection);
    }
  });
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
