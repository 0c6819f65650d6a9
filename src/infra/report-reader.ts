// Long reads for reports (the Security view, its alert rules, the Audit Log) without stopping the server: on
// SQLite every query runs synchronously on the thread that asks, so a read of a million audit events would hold
// every request for its whole length. The report reader runs such reads on a worker thread with its own
// read-only connection (WAL lets it read while the server writes). On PostgreSQL the server already waits for
// the database without blocking, so the reader is the main database itself.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';
import { rawClientOf, type Database, type Db } from './db.ts';

// Plain JavaScript, evaluated in the worker: it runs what the main thread compiled, on a connection that cannot write.
const READER_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.module);
const db = new SQLite(workerData.path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const statements = new Map();
parentPort.on('message', (message) => {
  if (message === 'stop') { db.close(); parentPort.close(); return; }
  const { id, sql, parameters } = message;
  try {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= 200) statements.clear();
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    if (!statement.reader) throw Object.assign(new Error('the report reader only reads'), { code: 'LATCHKEY_READ_ONLY' });
    parentPort.postMessage({ id, rows: statement.all(parameters) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
  }
});
`;

interface Answer {
  id: number;
  rows?: Record<string, unknown>[];
  error?: { message: string; code?: string };
}

/**
 * One worker, one read-only connection; queries are answered in the order asked. The worker keeps the process
 * alive only while a query waits for it: an idle reader never holds a finished command line open.
 */
class ReaderConnection implements DatabaseConnection {
  private next = 0;
  private readonly waiting = new Map<number, { resolve(rows: Record<string, unknown>[]): void; reject(error: Error): void }>();

  constructor(private readonly worker: Worker) {
    worker.on('message', (answer: Answer) => {
      const waiter = this.waiting.get(answer.id);
      if (!waiter) return;
      this.waiting.delete(answer.id);
      if (this.waiting.size === 0) worker.unref();
      if (answer.error) waiter.reject(Object.assign(new Error(answer.error.message), { code: answer.error.code }));
      else waiter.resolve(answer.rows ?? []);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => this.failAll(new Error('the report reader stopped')));
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const id = this.next++;
    const rows = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql: query.sql, parameters: query.parameters });
    });
    return { rows: rows as R[] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the report reader does not stream');
  }
}

class ReaderDriver implements Driver {
  private worker: Worker | null = null;
  private connection: ReaderConnection | null = null;

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    const require = createRequire(import.meta.url);
    this.worker = new Worker(READER_WORKER, { eval: true, workerData: { module: require.resolve('better-sqlite3'), path: this.path } });
    // A process with nothing else to do may end while the reader idles.
    this.worker.unref();
    this.connection = new ReaderConnection(this.worker);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection!;
  }

  async beginTransaction(): Promise<void> {
    throw new Error('the report reader reads outside transactions');
  }

  async commitTransaction(): Promise<void> {}

  async rollbackTransaction(): Promise<void> {}

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    if (!this.worker) return;
    const worker = this.worker;
    this.worker = null;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref();
    worker.postMessage('stop');
    await exited;
  }
}

/**
 * The database to read reports from: a read-only connection on a worker thread for a SQLite file, the main
 * database otherwise (PostgreSQL, or SQLite in memory). Close it with `destroy()` before the main database.
 */
export function openReportReader(db: Db): Db {
  const raw = rawClientOf(db);
  if (raw.dialect !== 'sqlite' || raw.path === ':memory:') return db;
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new ReaderDriver(raw.path),
      createIntrospector: (kysely) => new SqliteIntrospector(kysely),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}
