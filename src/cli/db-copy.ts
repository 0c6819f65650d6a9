// `latchkey db copy`: moves an installation to another database (the embedded SQLite to PostgreSQL) in one pass, with progress and counts.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { describeDatabase, parseDatabaseUrl, type Config, type DatabaseSettings } from '../config.ts';
import { UserError } from '../infra/errors.ts';
import { holdServerLock, openDatabase, ServerLockError, type Db } from '../infra/db.ts';
import { copyDatabase, mismatchOf, type TableCount } from '../infra/db-copy.ts';

export interface CopyCommand {
  /** --to: the database to fill, as a URL. */
  to: string;
  /** --from: the database to copy, as a URL; the configured one (LATCHKEY_DATABASE_URL) when absent. */
  from?: string;
  /** The settings: the source by default, and where the installation secret lives. */
  config: Config;
  out: (line: string) => void;
  /** Progress and warnings: stderr, so the answer on stdout stays a table. */
  note: (line: string) => void;
}

export async function copyInstallation({ config, out, note, ...urls }: CopyCommand): Promise<void> {
  const from = urls.from === undefined ? config.database : parseDatabaseUrl(urls.from, process.cwd(), 2, '--from');
  const to = parseDatabaseUrl(urls.to, process.cwd(), 2, '--to');
  if (sameDatabase(from, to)) throw new UserError(`the source and the target are the same database (${describeDatabase(from)})`);
  if (from.kind === 'sqlite' && (from.path === ':memory:' || !existsSync(from.path))) {
    throw new UserError(`the source database does not exist: ${describeDatabase(from)} (set LATCHKEY_DATABASE_URL or --from)`);
  }
  const releaseLock = from.kind === 'sqlite' ? holdSourceLock(from.path, note) : () => undefined;
  const source = openDatabase(from);
  const target = openDatabase(to);
  try {
    await reach(source, 'source', from);
    await reach(target, 'target', to);
    const { counts, skipped } = await copyDatabase(source, target, { batchSize: 1000, progress: progressPrinter(note) });
    out(countsTable(counts));
    const mismatch = mismatchOf(counts);
    if (mismatch) throw new UserError(mismatch);
    if (skipped.length > 0) out(`Not copied (not part of Latchkey's schema): ${skipped.join(', ')}.`);
    out(`Copied ${describeDatabase(from)} to ${describeDatabase(to)}; the counts match.`);
    out(
      'Sealed values (reset links waiting in the mail queue, stored SMTP passwords) were copied as they are: they open only with this ' +
        `installation's secret, so run Latchkey on the new database with ${config.secret !== null ? 'the same LATCHKEY_SECRET' : `${path.join(config.dataDir, 'secret.key')} copied along (or LATCHKEY_SECRET set to its contents)`}.`,
    );
  } finally {
    await source.destroy();
    await target.destroy();
    releaseLock();
  }
}

function sameDatabase(a: DatabaseSettings, b: DatabaseSettings): boolean {
  if (a.kind === 'sqlite' && b.kind === 'sqlite') return realPath(a.path) === realPath(b.path);
  if (a.kind === 'postgres' && b.kind === 'postgres') return postgresIdentity(a.url) === postgresIdentity(b.url);
  return false;
}

function realPath(file: string): string {
  return existsSync(file) ? realpathSync(file) : path.resolve(file);
}

/** Host, port and database name: what makes two URLs the same database (users and options aside). */
function postgresIdentity(raw: string): string {
  const url = new URL(raw);
  const host = url.hostname || url.searchParams.get('host') || 'socket';
  const database = decodeURIComponent(url.pathname.slice(1)) || url.searchParams.get('dbname') || '';
  return `${host.toLowerCase()}:${url.port || '5432'}/${database}`;
}

/**
 * A server running on the source keeps writing while it is read: its later writes would not be copied. The
 * copy reads one consistent snapshot either way; holding the server lock meanwhile keeps a server from starting.
 */
function holdSourceLock(file: string, note: (line: string) => void): () => void {
  try {
    return holdServerLock(file);
  } catch (error) {
    if (!(error instanceof ServerLockError)) throw error;
    note('Warning: a Latchkey server is running on the source; what it writes after the copy starts is not copied (stop it first for a complete copy).');
    return () => undefined;
  }
}

/** A database that cannot be reached is named without its password (describeDatabase). */
async function reach(db: Db, role: 'source' | 'target', settings: DatabaseSettings): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw new UserError(`cannot open the ${role} database (${describeDatabase(settings)}): ${(error as Error).message.split('\n')[0]}`);
  }
}

/** "users: 12,000 / 100,000" at most once a second per table, and always when a table is done. */
function progressPrinter(note: (line: string) => void): (table: string, copied: number, total: number) => void {
  let shownAt = 0;
  return (table, copied, total) => {
    const now = performance.now();
    if (copied < total && now - shownAt < 1000) return;
    shownAt = now;
    note(`${table}: ${copied.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`);
  };
}

function countsTable(counts: TableCount[]): string {
  const rows = [['table', 'source', 'target'], ...counts.map((count) => [count.table, count.source.toLocaleString('en-US'), count.target.toLocaleString('en-US')])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map(([table, source, target]) => `${table!.padEnd(widths[0]!)}  ${source!.padStart(widths[1]!)}  ${target!.padStart(widths[2]!)}`).join('\n');
}
