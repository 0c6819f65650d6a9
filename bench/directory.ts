// The directory benchmark: a directory of many users (1,000,000 by default) on SQLite or PostgreSQL, then the
// latency (p50/p95) of the users list's queries — one page and its count — for each search, filter and sort.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, rawClientOf, type Db } from '../src/infra/db.ts';
import { COUNT_CAP, listUsers, searchKeyOf, type UserQuery } from '../src/modules/users/users.repo.ts';
import { createDatabase, startPostgresCluster } from '../test/support/postgres.ts';

const FIRST = ['Ada', 'Bob', 'Carol', 'Dave', 'Élodie', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya'];
const LAST = ['Smith', 'Jones', 'Durand', 'Müller', 'Rossi', 'Tanaka', 'Nowak', 'Silva', 'Okafor', 'Berg', 'Kowalski', 'Haddad'];
const PER_PAGE = 50;
/** Rows per insert statement, and per transaction. */
const BATCH = 2_000;
const PER_TRANSACTION = 100_000;

export interface LatencyFigures {
  p50: number;
  p95: number;
  requests: number;
}

export interface DirectoryFigures {
  users: number;
  seedSeconds: number;
  scenarios: Record<string, LatencyFigures & { matches: string }>;
}

/** The cases timed: the list as the console asks for it (page size 50). */
export const SCENARIOS: Record<string, Omit<UserQuery, 'limit'>> = {
  'list, first page by name': {},
  'list, page 1,000 by name': { offset: 999 * PER_PAGE },
  'list, sorted by last login': { sort: 'last_login', dir: 'desc' },
  'list, sorted by email desc': { sort: 'email', dir: 'desc' },
  'search "smith"': { search: 'smith' },
  'search "user4242"': { search: 'user4242' },
  'search "élodie" + Active': { search: 'élodie', filters: ['active'] },
  'search "ÉLODIE" by pw changed': { search: 'ÉLODIE', sort: 'password_changed', dir: 'desc' },
  'search "example.org" + Archived': { search: 'example.org', filters: ['archived'] },
  'search "müller 12" + Admins': { search: 'müller 12', filters: ['admins'] },
  'search "100%" (no match)': { search: '100%' },
  'search "zq" (2 letters, none)': { search: 'zq' },
  'search "a" (1 letter)': { search: 'a' },
  'search "user" + Reset pending': { search: 'user', filters: ['reset-pending'] },
  'filter Active': { filters: ['active'] },
  'filter Archived': { filters: ['archived'] },
  'filter Administrators': { filters: ['admins'] },
  'filter Never logged in, by email': { filters: ['never-logged-in'], sort: 'email' },
  'filter Reset pending': { filters: ['reset-pending'] },
  'Active + Never logged in, by role': { filters: ['active', 'never-logged-in'], sort: 'role' },
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

type UserRow = [string, string, string, string, string, string, number, number | null, number, string];
type LinkRow = [string, string, string, number, number, null, null, null, string];

function userRow(i: number, hash: string, now: number): UserRow {
  const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]} ${i}`;
  const email = `user${i}@${i % 7 === 0 ? 'example.org' : 'example.com'}`;
  return [
    `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    email,
    name,
    i % 1000 === 0 ? 'admin' : 'user',
    i % 50 === 0 ? 'archived' : 'active',
    hash,
    now - i * 1000,
    i % 3 === 0 ? null : now - i * 500,
    now - i * 700,
    searchKeyOf(name, email),
  ];
}

/** One open reset link for every 500th user (and an expired one for every 1,000th, which must not count). */
function linkRows(i: number, now: number): LinkRow[] {
  if (i % 500 !== 0) return [];
  const userId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const link = (n: number, expiresAt: number): LinkRow => [`10000000-0000-4000-8000-${String(i * 2 + n).padStart(12, '0')}`, userId, `hash-${i}-${n}`, now - 60_000, expiresAt, null, null, null, 'admin'];
  return i % 1000 === 0 ? [link(0, now + 3_600_000), link(1, now - 1)] : [link(0, now + 3_600_000)];
}

const USER_COLUMNS = 'id, email, name, role, status, password_hash, created_at, last_login_at, password_changed_at, search_key';
const LINK_COLUMNS = 'id, user_id, token_hash, created_at, expires_at, used_at, revoked_at, revoked_reason, requested_by';

/** Inserts the users and links in batches, many batches to a transaction, through the database's own client. */
export async function seedDirectory(db: Db, count: number, now: number): Promise<void> {
  const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkc2VlZGVk$V2Vs0m2x8oJ8gqQm3dWc6bqCqzQk5cQ4q8oQ0b1bq2Y';
  const raw = rawClientOf(db);
  if (raw.dialect === 'sqlite') {
    const users = raw.sqlite.prepare(`insert into users (${USER_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const links = raw.sqlite.prepare(`insert into reset_links (${LINK_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const range = raw.sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        users.run(...userRow(i, hash, now));
        for (const link of linkRows(i, now)) links.run(...link);
      }
    });
    for (let from = 0; from < count; from += PER_TRANSACTION) range(from, Math.min(count, from + PER_TRANSACTION));
    return;
  }
  // PostgreSQL: one statement per batch, its columns as arrays (a handful of parameters, whatever the batch size).
  const client = await raw.pool.connect();
  const columns = <T extends unknown[]>(rows: T[]) => rows[0]!.map((_, c) => rows.map((row) => row[c]));
  try {
    for (let from = 0; from < count; from += PER_TRANSACTION) {
      await client.query('begin');
      for (let start = from; start < Math.min(count, from + PER_TRANSACTION); start += BATCH) {
        const users: UserRow[] = [];
        const links: LinkRow[] = [];
        for (let i = start; i < Math.min(count, start + BATCH); i++) {
          users.push(userRow(i, hash, now));
          links.push(...linkRows(i, now));
        }
        await client.query(
          `insert into users (${USER_COLUMNS}) select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])`,
          columns(users),
        );
        if (links.length > 0) {
          await client.query(
            `insert into reset_links (${LINK_COLUMNS}) select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])`,
            columns(links),
          );
        }
      }
      await client.query('commit');
    }
  } finally {
    client.release();
  }
  // As autovacuum would soon after a load this size: statistics for the planner, and a visibility map for index-only counts.
  await sql`vacuum analyze`.execute(db);
}

/** Seeds a directory of `users` users on SQLite (a temporary file) or in a new database of the PostgreSQL cluster at `postgresUrl`, then times the list. */
export async function benchDirectory(options: { users: number; requests: number; postgresUrl?: string }): Promise<DirectoryFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-directory-'));
  const db = openDatabase(
    options.postgresUrl
      ? { kind: 'postgres', url: await createDatabase(options.postgresUrl, 'directory'), poolSize: 4 }
      : { kind: 'sqlite', path: path.join(dir, 'latchkey.db') },
  );
  try {
    await migrateToLatest(db);
    const now = Date.now();
    const started = performance.now();
    await seedDirectory(db, options.users, now);
    const seedSeconds = (performance.now() - started) / 1000;
    const scenarios: DirectoryFigures['scenarios'] = {};
    for (const [name, query] of Object.entries(SCENARIOS)) {
      const times: number[] = [];
      let matches = '';
      for (let i = 0; i < options.requests; i++) {
        const t0 = performance.now();
        const { rows, total } = await listUsers(db, { ...query, limit: PER_PAGE }, now);
        times.push(performance.now() - t0);
        if (rows.length > PER_PAGE) throw new Error(`${name}: ${rows.length} rows on one page`);
        matches = (query.search || query.filters) && total > COUNT_CAP ? `> ${COUNT_CAP.toLocaleString('en-US')}` : total.toLocaleString('en-US');
      }
      times.sort((a, b) => a - b);
      scenarios[name] = { p50: percentile(times, 50), p95: percentile(times, 95), requests: times.length, matches };
    }
    return { users: options.users, seedSeconds, scenarios };
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/directory.ts [users] [requests]`: both databases side by side.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const users = Number(process.argv[2] ?? 1_000_000);
  const requests = Number(process.argv[3] ?? 40);
  const sqlite = await benchDirectory({ users, requests });
  const cluster = await startPostgresCluster();
  let postgres: DirectoryFigures;
  try {
    postgres = await benchDirectory({ users, requests, postgresUrl: cluster.url });
  } finally {
    cluster.stop();
  }
  const fmt = (n: number) => n.toFixed(1).padStart(7);
  console.log(`Users list with ${users.toLocaleString('en-US')} users, ${requests} requests a case (page of ${PER_PAGE} + count), milliseconds`);
  console.log(`Seeded in ${sqlite.seedSeconds.toFixed(1)} s on SQLite, ${postgres.seedSeconds.toFixed(1)} s on PostgreSQL`);
  console.log(`${'case'.padEnd(34)} ${'SQLite p50'.padStart(10)} ${'p95'.padStart(7)}  ${'PG p50'.padStart(7)} ${'p95'.padStart(7)}  matches`);
  for (const [name, s] of Object.entries(sqlite.scenarios)) {
    const p = postgres.scenarios[name]!;
    const matches = s.matches === p.matches ? s.matches : `${s.matches} / ${p.matches}`;
    console.log(`${name.padEnd(34)} ${fmt(s.p50).padStart(10)} ${fmt(s.p95)}  ${fmt(p.p50)} ${fmt(p.p95)}  ${matches}`);
  }
}
