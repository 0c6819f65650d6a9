// The database: Kysely over SQLite (better-sqlite3, the embedded default) or PostgreSQL (pg), with the schema's
// types and versioned migrations. Every difference between the two dialects is handled here.
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type pg from 'pg';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresAdapter,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  sql,
  type DatabaseConnection,
  type Driver,
  type Generated,
  type Transaction,
} from 'kysely';
import type { DatabaseSettings } from '../config.ts';
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
  /** When the address was last proven by using an emailed link; null: never (or changed since by an administrator). */
  email_verified_at: number | null;
  /** The language pages and mails use for this user (a catalogue's code); null: the browser's, or the installation's. */
  language: string | null;
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
  /** 1 when the user asked to be remembered: the cookie outlives the browser (up to the absolute limit). */
  remembered: number;
  /** How the session began (RFC 8176 amr values, space-separated, e.g. "pwd otp mfa"); null for sessions from before. */
  amr: string | null;
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
  /**
   * What using the link does: choose a password (reset, invitation), prove the address (confirm), move to the
   * address in `email` (email-change), or put back the address in `email` (email-undo).
   */
  purpose: 'reset' | 'invitation' | 'confirm' | 'email-change' | 'email-undo';
  email: string | null;
}

/** 'bounced': it went out, and the receiving side sent back a delivery status notification that it failed for good. */
export type MailStatus = 'queued' | 'sending' | 'sent' | 'retrying' | 'failed' | 'cancelled' | 'bounced';

/** A self-service reset request, answered and waiting for the courier's pass to act on it. */
export interface ResetRequestsTable {
  id: string;
  /** Normalized; `typed` keeps what the person typed, for the audit log. */
  email: string;
  typed: string;
  ip: string | null;
  user_agent: string | null;
  requested_at: number;
  claim_id: string | null;
  lease_until: number | null;
  /** The language of the page the request was made on: the mail's, if the account chose none. */
  language: string | null;
}

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
  /** The claim of the worker sending it now; its writes are fenced on this. */
  claim_id: string | null;
  last_error: string | null;
  transport: string | null;
  created_at: number;
  sent_at: number | null;
  /** The language the mail is written in (subject at queueing, body at sending). */
  language: string | null;
}

export interface MailAttemptsTable {
  id: string;
  message_id: string;
  at: number;
  server: string;
  /** 'bounced': not an attempt of ours but the hard bounce reported later; `server` is the server that reported it. */
  outcome: 'sent' | 'temporary' | 'permanent' | 'bounced';
  reply: string;
}

/**
 * An address a hard bounce proved undeliverable (normalized, as users.email): the mark is on the address, so
 * a user whose email changes loses it; proving the mailbox (a reset link used) clears it.
 */
export interface UndeliverableAddressesTable {
  email: string;
  /** The bounced message and the receiving side's words about it. */
  message_id: string;
  reason: string;
  marked_at: number;
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

/** An alert of the Security view: raised by a rule, shown until an administrator acknowledges it. */
export interface SecurityAlertsTable {
  id: string;
  kind: string;
  /** What it is about (an IP address, a network, an email address); empty for the whole service. */
  subject: string;
  raised_at: number;
  summary: string;
  /** JSON: the figures that raised it and the audit log filter that shows them. */
  detail: string;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
}

export interface SecurityAlertMailsTable {
  kind: string;
  mailed_at: number;
}

export interface DatabaseSizeSamplesTable {
  at: number;
  bytes: number;
}

/** An administrator's webhook: where to send which events (a JSON array), signed with its sealed secret. */
export interface WebhookSubscriptionsTable {
  id: string;
  url: string;
  description: string;
  events: string;
  enabled: number;
  secret_sealed: string;
  after_event_id: number;
  created_at: number;
  updated_at: number;
  secret_rotated_at: number | null;
}

export type WebhookDeliveryStatus = 'pending' | 'sending' | 'retrying' | 'delivered' | 'failed';

/** One event for one subscription: its body, fixed when the event was read, and where its delivery stands. */
export interface WebhookDeliveriesTable {
  id: string;
  subscription_id: string;
  event_id: number;
  event_type: string;
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  claim_id: string | null;
  created_at: number;
  delivered_at: number | null;
  last_error: string | null;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface WebhookCursorTable {
  name: string;
  last_event_id: number;
}

/** A relying party of the OpenID Connect provider; `id` is its client_id. */
export interface ApplicationsTable {
  id: string;
  name: string;
  kind: 'confidential' | 'public';
  /** 1: Latchkey's own organisation's application, signed in without a consent screen. */
  first_party: number;
  /** JSON arrays of strings. */
  redirect_uris: string;
  post_logout_redirect_uris: string;
  scopes: string;
  /** The client secret of a confidential application, sealed with the installation secret; null for public ones. */
  secret_sealed: string | null;
  created_at: number;
  updated_at: number;
  secret_rotated_at: number | null;
}

/** A key for the JSON API; only its SHA-256 is kept. Scopes are a JSON array. */
export interface ApiKeysTable {
  id: string;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: string;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface ApiIdempotencyTable {
  key_id: string;
  idempotency_key: string;
  request_hash: string;
  status: number;
  body: string;
  created_at: number;
}

/** A user's authenticator app (TOTP): the secret sealed under the installation secret, the last time step accepted. */
export interface TwoStepAuthenticatorsTable {
  user_id: string;
  secret_sealed: string;
  created_at: number;
  last_used_step: number | null;
  last_used_at: number | null;
}

/** A single-use recovery code of a user with two-step verification; only a hash of it is kept. */
export interface TwoStepRecoveryCodesTable {
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** A user's passkey (WebAuthn credential): only its public key is kept. */
export interface PasskeysTable {
  id: string;
  user_id: string;
  /** base64url, as the browser sends it back. */
  credential_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  counter: number;
  /** The authenticator's transports ("internal", "usb", …), comma-separated. */
  transports: string;
  name: string;
  /** 1 when the user chose to log in with this passkey alone. */
  passwordless: number;
  /** 1 when the passkey is synced between devices. */
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
}

/** A passkey challenge that was answered, kept until its expiry so it cannot be answered again. */
export interface PasskeyChallengesUsedTable {
  challenge_hash: string;
  expires_at: number;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  reset_links: ResetLinksTable;
  reset_requests: ResetRequestsTable;
  mail_messages: MailMessagesTable;
  mail_attempts: MailAttemptsTable;
  mail_servers: MailServersTable;
  audit_events: AuditEventsTable;
  security_alerts: SecurityAlertsTable;
  security_alert_mails: SecurityAlertMailsTable;
  database_size_samples: DatabaseSizeSamplesTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_cursor: WebhookCursorTable;
  applications: ApplicationsTable;
  api_keys: ApiKeysTable;
  api_idempotency: ApiIdempotencyTable;
  two_step_authenticators: TwoStepAuthenticatorsTable;
  two_step_recovery_codes: TwoStepRecoveryCodesTable;
  passkeys: PasskeysTable;
  passkey_challenges_used: PasskeyChallengesUsedTable;
  undeliverable_addresses: UndeliverableAddressesTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: repositories take this so callers choose. */
export type Executor = Db | Tx;
export type Dialect = 'sqlite' | 'postgres';

export interface OpenOptions {
  /** Checkpoint the write-ahead log from a worker thread, so its disk syncs never stall requests. */
  backgroundCheckpoint?: boolean;
  /** The write-ahead log is truncated once it passes this size (SQLite only). */
  walLimitBytes?: number;
}

/** The client under Kysely, for maintained libraries that bring their own SQL (rate-limiter-flexible's stores). */
export type RawClient = { dialect: 'sqlite'; sqlite: SQLite.Database; path: string } | { dialect: 'postgres'; pool: pg.Pool };

const rawClients = new WeakMap<object, RawClient>();

export function rawClientOf(db: Db): RawClient {
  const raw = rawClients.get(db);
  if (!raw) throw new Error('not a database opened by openDatabase()');
  return raw;
}

export function dialectOf(db: Executor): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Locks the selected rows until the transaction ends, on PostgreSQL. SQLite needs no row locks: a write
 * transaction there holds the whole database (transactions begin IMMEDIATE, see below).
 */
export function forUpdate<Q extends { forUpdate(): Q }>(db: Executor, query: Q): Q {
  return dialectOf(db) === 'postgres' ? query.forUpdate() : query;
}

/** Like forUpdate, but rows another transaction holds are skipped: workers claiming a queue do not wait for each other. */
export function forUpdateSkipLocked<Q extends { forUpdate(): Q; skipLocked(): Q }>(db: Executor, query: Q): Q {
  return dialectOf(db) === 'postgres' ? query.forUpdate().skipLocked() : query;
}

/**
 * Runs a periodic chore (a cleanup) on one instance at a time: on PostgreSQL under a transaction-scoped
 * advisory lock that the other instances try and skip; on SQLite there is only one server. Returns whether
 * it ran here.
 */
export async function onOneInstance(db: Db, chore: string, run: (trx: Tx) => Promise<void>): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    if (dialectOf(trx) === 'postgres') {
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(hashtext(${`latchkey:${chore}`})) as locked`.execute(trx);
      if (!rows[0]?.locked) return false;
    }
    await run(trx);
    return true;
  });
}

/**
 * Like onOneInstance, for a chore made of many short transactions (a cleanup in batches): on PostgreSQL the
 * advisory lock is held by one pooled connection for the whole chore, and the chore's transactions run on that
 * connection, so each stays short; the lock goes when the chore ends or the connection dies. On SQLite there
 * is only one server. Returns whether it ran here.
 */
export async function onOneInstanceInSteps(db: Db, chore: string, run: (db: Db) => Promise<void>): Promise<boolean> {
  if (dialectOf(db) === 'sqlite') {
    await run(db);
    return true;
  }
  return db.connection().execute(async (conn) => {
    const key = `latchkey:${chore}`;
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(hashtext(${key})) as locked`.execute(conn);
    if (!rows[0]?.locked) return false;
    try {
      await run(conn);
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn);
    }
    return true;
  });
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === '23505';
}

export function openDatabase(settings: DatabaseSettings, options: OpenOptions = {}): Db {
  return settings.kind === 'postgres' ? openPostgres(settings.url, settings.poolSize) : openSqlite(settings.path, options);
}

// pg returns bigint (int8) and numeric as strings; Latchkey's bigints are epoch milliseconds and counts,
// well inside JavaScript's safe integers.
const INT8 = 20;
const NUMERIC = 1700;
function pgTypes(driver: typeof pg) {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8 || oid === NUMERIC ? (value: string) => Number(value) : driver.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
}

function openPostgres(url: string, poolSize: number): Db {
  // Loaded only on PostgreSQL: an installation on SQLite never pays for the driver's memory.
  const driver = createRequire(import.meta.url)('pg') as typeof pg;
  const pool = new driver.Pool({ connectionString: url, max: poolSize, types: pgTypes(driver), connectionTimeoutMillis: 10_000 });
  // An idle client that loses its server (a restart, a failover) must not take the process down.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  rawClients.set(db, { dialect: 'postgres', pool });
  return db;
}

/**
 * Transactions begin IMMEDIATE: a writer takes the write lock when it begins, so a transaction that reads
 * then writes never fails half-way because another process (the command line) wrote in between; it waits
 * for the lock (busy_timeout) instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  constructor(
    config: ConstructorParameters<typeof SqliteDriver>[0],
    private readonly afterCommit: () => void,
  ) {
    super(config);
  }
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await super.commitTransaction(connection);
    this.afterCommit();
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly sqliteConfig: ConstructorParameters<typeof SqliteDialect>[0],
    private readonly afterCommit: () => void,
  ) {
    super(sqliteConfig);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig, this.afterCommit);
  }
}

const DEFAULT_WAL_LIMIT = 16 * 1024 * 1024;

/**
 * The database holds password hashes and the audit log: a folder Latchkey creates is the owner's alone (0700),
 * and the file is made 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode).
 * Files from an earlier start with looser modes are tightened; an existing folder is left as the operator made it.
 */
function ownerOnly(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  for (const each of [file, `${file}-wal`, `${file}-shm`]) {
    const mode = statSync(each, { throwIfNoEntry: false })?.mode;
    if (mode !== undefined && (mode & 0o077) !== 0) chmodSync(each, 0o600);
  }
}

function openSqlite(file: string, options: OpenOptions): Db {
  if (file !== ':memory:') ownerOnly(file);
  const sqlite = new SQLite(file);
  // WAL lets pages read while the worker writes; NORMAL sync is durable across process crashes in WAL mode.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const walLimit = options.walLimitBytes ?? DEFAULT_WAL_LIMIT;
  // When the log starts over, SQLite truncates the file back to this size.
  sqlite.pragma(`journal_size_limit = ${Math.floor(walLimit / 4)}`);
  const checkpointer = options.backgroundCheckpoint && file !== ':memory:' ? startCheckpointer(sqlite, file) : null;
  // Kysely prepares every query afresh; the same few dozen statements are reused instead.
  const statements = new Map<string, SQLite.Statement>();
  let queries = 0;
  // The log starts over only when a write begins with every frame already copied into the database. The
  // checkpointer copies continuously from its thread, but this connection keeps appending meanwhile, so it never
  // sees the end; between two transactions, this connection copies the few frames left (nothing can append
  // meanwhile), and the next write starts the log over. Past three quarters of the limit it also waits for a
  // checkpoint under way rather than letting the log grow.
  const bound = () => {
    if (!checkpointer || sqlite.inTransaction) return;
    const size = walSizeOf(file);
    if (size > walLimit * 0.75) emptyLog(sqlite, file, walLimit / 4, 1000);
    else if (size > walLimit / 4) finishCopy(sqlite);
  };
  const cached = {
    prepare(query: string) {
      // Statements outside transactions (single inserts) are looked at every few; transactions at each commit.
      if (++queries % 16 === 0) bound();
      let statement = statements.get(query);
      if (!statement) {
        if (statements.size >= 500) statements.clear();
        statement = sqlite.prepare(query);
        statements.set(query, statement);
      }
      return statement;
    },
    close() {
      checkpointer?.stop();
      sqlite.close();
    },
  };
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: cached as unknown as SQLite.Database }, bound) });
  rawClients.set(db, { dialect: 'sqlite', sqlite, path: file });
  return db;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Copies what the checkpointer has not copied yet, from the writer's own connection, between transactions: with
 * the checkpointer keeping up, a few frames. Gives way at once to a checkpoint under way (busy).
 */
function finishCopy(sqlite: SQLite.Database): void {
  try {
    sqlite.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Locked by another process's transaction: the next look tries again.
  }
}

/**
 * Empties the write-ahead log from the writer's own connection. A checkpoint already under way in the
 * checkpointer makes this one give up at once (busy); given `waitMs`, it tries again until then: writes
 * wait meanwhile, which is the point near the limit — the log must not outgrow it.
 */
function emptyLog(sqlite: SQLite.Database, file: string, below: number, waitMs: number): void {
  const deadline = Date.now() + waitMs;
  do {
    try {
      const [result] = sqlite.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (result?.busy === 0) return;
    } catch {
      // Locked by another process's transaction: wait as for busy.
    }
    if (Date.now() >= deadline) return;
    Atomics.wait(pause, 0, 0, 5);
  } while (walSizeOf(file) > below);
}

/**
 * The checkpointer copies the log into the database from its own thread without ever blocking the writer
 * (PASSIVE), as soon as there is something to copy: the copying, the larger part of a checkpoint, stays off the
 * thread that answers requests. It never starts the log over itself — that needs a moment without a writer,
 * which the writer finds between its transactions (finishCopy). After a second without writes, and when the
 * server stops, it empties the file (TRUNCATE).
 */
const CHECKPOINT_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.module);
const db = new Database(workerData.path);
// Never waits for the writer: a PASSIVE checkpoint does not need it, and the TRUNCATE below runs only when idle.
db.pragma('busy_timeout = 0');
const checkpoint = (mode) => { try { return db.pragma('wal_checkpoint(' + mode + ')')[0]; } catch { return null; } };
let seen = '';
let quietSince = Date.now();
const timer = setInterval(() => {
  let wal;
  try { wal = statSync(workerData.path + '-wal'); } catch { return; }
  if (wal.size === 0) return;
  const stamp = wal.size + ':' + wal.mtimeMs;
  if (stamp !== seen) {
    // The log changed: copy it. Only a complete copy counts as seen (busy or cut short: again next tick).
    quietSince = Date.now();
    const result = checkpoint('PASSIVE');
    if (result && result.busy === 0 && result.log === result.checkpointed) seen = stamp;
  } else if (Date.now() - quietSince >= workerData.quietMs) {
    // Nothing written for a while: empty the file (a writer arriving meanwhile makes it give up, busy).
    if (checkpoint('TRUNCATE')?.busy === 0) seen = '';
    quietSince = Date.now();
  }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); db.pragma('busy_timeout = 2000'); checkpoint('TRUNCATE'); db.close(); parentPort.close(); });
`;

function startCheckpointer(sqlite: SQLite.Database, file: string): { stop(): void } {
  sqlite.pragma('wal_autocheckpoint = 0');
  const require = createRequire(import.meta.url);
  const worker = new Worker(CHECKPOINT_WORKER, {
    eval: true,
    workerData: { module: require.resolve('better-sqlite3'), path: file, intervalMs: 10, quietMs: 1000 },
  });
  worker.unref();
  return {
    stop() {
      worker.postMessage('stop');
      // The last checkpoint also runs on close of the main connection if the worker has not finished.
      sqlite.pragma('wal_autocheckpoint = 1000');
    },
  };
}

/** The size of a SQLite database's write-ahead log, in bytes (0 when there is none). */
export function walSizeOf(file: string): number {
  // One stat, no exists-check first: the writer asks this between transactions.
  return statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * On SQLite one server process owns the database: a second `latchkey serve` on the same file is refused at
 * start (several instances need PostgreSQL). The lock is an exclusive SQLite lock on a file beside the
 * database, so the operating system releases it when the process ends, however it ends. Command-line
 * commands do not take it: they work beside a running server.
 */
export function holdServerLock(file: string): () => void {
  if (file === ':memory:') return () => undefined;
  const lockFile = `${file}.server-lock`;
  closeSync(openSync(lockFile, 'a', 0o600));
  const lock = new SQLite(lockFile, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch {
    lock.close();
    throw new ServerLockError(
      `another Latchkey server is already running on ${file}: on SQLite only one server may use a database (run several instances on PostgreSQL)`,
    );
  }
  return () => {
    try {
      lock.exec('COMMIT');
    } finally {
      lock.close();
    }
  };
}

export class ServerLockError extends Error {}

/** Applies every pending migration; returns the names applied. On PostgreSQL, Kysely holds an advisory lock meanwhile. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/** Whether every known migration has been applied (for readiness checks). */
export async function migrationsCurrent(db: Db): Promise<boolean> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const list = await migrator.getMigrations();
  return list.every((migration) => migration.executedAt !== undefined);
}

/** Bytes the database takes now: SQLite's pages plus its write-ahead log; PostgreSQL's pg_database_size. */
export async function databaseSizeOf(db: Db): Promise<number> {
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<{ bytes: number }>`select pg_database_size(current_database()) as bytes`.execute(db);
    return Number(rows[0]!.bytes);
  }
  const { rows } = await sql<{ bytes: number }>`select page_count * page_size as bytes from pragma_page_count(), pragma_page_size()`.execute(db);
  const raw = rawClientOf(db);
  const wal = raw.dialect === 'sqlite' && raw.path !== ':memory:' ? walSizeOf(raw.path) : 0;
  return Number(rows[0]!.bytes) + wal;
}
