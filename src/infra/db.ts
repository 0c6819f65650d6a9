// The database: Kysely over SQLite (better-sqlite3), with the schema's types and versioned migrations.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Generated, type Transaction } from 'kysely';
import type { Config } from '../config.ts';
import { migrations } from './migrations.ts';

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  status: 'active' | 'archived';
  password_hash: string | null;
  created_at: number;
  last_login_at: number | null;
  password_changed_at: number | null;
  /** "name email" in lower case, for case-insensitive search on any part of either. */
  search_key: string;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  absolute_expires_at: number;
  ip: string;
  user_agent: string;
}

export interface ResetLinksTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  revoked_reason: 'replaced' | 'password_changed' | 'email_changed' | 'archived' | null;
  requested_by: 'self' | 'admin' | 'cli';
}

export type MailStatus = 'queued' | 'sending' | 'sent' | 'retrying' | 'failed' | 'cancelled';

export interface MailMessagesTable {
  id: string;
  template: string;
  to_address: string;
  subject: string;
  params: string;
  /** The reset token, sealed with the installation secret; cleared once the mail has gone. */
  sealed_token: string | null;
  user_id: string | null;
  reset_link_id: string | null;
  status: MailStatus;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  last_error: string | null;
  transport: string | null;
  created_at: number;
  sent_at: number | null;
}

export interface MailAttemptsTable {
  id: string;
  message_id: string;
  at: number;
  server: string;
  outcome: 'sent' | 'temporary' | 'permanent';
  reply: string;
}

export interface MailServersTable {
  id: string;
  name: string;
  host: string;
  port: number;
  security: 'none' | 'starttls' | 'tls';
  username: string | null;
  /** Sealed with the installation secret (AES-256-GCM); never sent to a browser. */
  password_sealed: string | null;
  from_address: string | null;
  priority: number;
  created_at: number;
  updated_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  type: string;
  user_id: string | null;
  actor_id: string | null;
  email: string | null;
  ip: string | null;
  user_agent: string | null;
  detail: string | null;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  reset_links: ResetLinksTable;
  mail_messages: MailMessagesTable;
  mail_attempts: MailAttemptsTable;
  mail_servers: MailServersTable;
  audit_events: AuditEventsTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: repositories take this so callers choose. */
export type Executor = Db | Tx;

export interface OpenOptions {
  /** Checkpoint the write-ahead log from a worker thread, so its disk syncs never stall requests. */
  backgroundCheckpoint?: boolean;
}

export function openDatabase(database: Config['database'], options: OpenOptions = {}): Db {
  if (database.path !== ':memory:') mkdirSync(path.dirname(database.path), { recursive: true });
  const sqlite = new SQLite(database.path);
  // WAL lets pages read while the worker writes; NORMAL sync is durable across process crashes in WAL mode.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const checkpointer = options.backgroundCheckpoint && database.path !== ':memory:' ? startCheckpointer(sqlite, database.path) : null;
  // Kysely prepares every query afresh; the same few dozen statements are reused instead.
  const statements = new Map<string, SQLite.Statement>();
  const cached = {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= 500) statements.clear();
        statement = sqlite.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      checkpointer?.stop();
      sqlite.close();
    },
  };
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: cached as unknown as SQLite.Database }) });
}

const CHECKPOINT_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const checkpoint = (mode) => { try { db.pragma('wal_checkpoint(' + mode + ')'); } catch {} };
const timer = setInterval(() => checkpoint('PASSIVE'), workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); checkpoint('TRUNCATE'); db.close(); parentPort.close(); });
`;

function startCheckpointer(sqlite: SQLite.Database, file: string): { stop(): void } {
  sqlite.pragma('wal_autocheckpoint = 0');
  const require = createRequire(import.meta.url);
  const worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { module: require.resolve('better-sqlite3'), path: file, intervalMs: 1000 } });
  worker.unref();
  return {
    stop() {
      worker.postMessage('stop');
      // The last checkpoint also runs on close of the main connection if the worker has not finished.
      sqlite.pragma('wal_autocheckpoint = 1000');
    },
  };
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
