// SQL for the user directory: the only code that reads or writes the users table.
import { sql, type Expression, type SqlBool } from 'kysely';
import { dialectOf, forUpdate, type Executor, type UsersTable } from '../../infra/db.ts';
import { openLinksOf, PASSWORD_LINKS } from '../recovery/reset-links.repo.ts';
import { usersWithTwoStep } from '../twostep/twostep.repo.ts';
import { undeliverableEmails } from '../mail/bounces.repo.ts';

export type User = UsersTable;

export function searchKeyOf(name: string, email: string): string {
  return `${name} ${email}`.toLowerCase();
}

export function findUserByEmail(db: Executor, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export function findUserById(db: Executor, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Reads the user and, on PostgreSQL, locks the row until the transaction ends: changes to one user queue up. */
export function lockUserById(db: Executor, id: string): Promise<User | undefined> {
  return forUpdate(db, db.selectFrom('users').selectAll().where('id', '=', id)).executeTakeFirst();
}

/** The users with these (normalized) addresses. */
export async function findUsersByEmails(db: Executor, emails: string[]): Promise<User[]> {
  const unique = [...new Set(emails)];
  return unique.length === 0 ? [] : db.selectFrom('users').selectAll().where('email', 'in', unique).execute();
}

/** These users, locked until the transaction ends (PostgreSQL), in id order so two batches never deadlock. */
export async function lockUsersByIds(db: Executor, ids: string[]): Promise<User[]> {
  const unique = [...new Set(ids)].sort();
  return unique.length === 0 ? [] : forUpdate(db, db.selectFrom('users').selectAll().where('id', 'in', unique).orderBy('id')).execute();
}

/** The current email of each of these users, for display; ids that belong to nobody are left out. */
export async function emailsByIds(db: Executor, ids: string[]): Promise<Map<string, string>> {
  const emails = new Map<string, string>();
  const unique = [...new Set(ids)];
  // In slices: both databases cap the number of parameters in one statement.
  for (let start = 0; start < unique.length; start += 500) {
    const rows = await db.selectFrom('users').select(['id', 'email']).where('id', 'in', unique.slice(start, start + 500)).execute();
    for (const row of rows) emails.set(row.id, row.email);
  }
  return emails;
}

/** Who several users are (no hash): for messages about them, such as webhook bodies. */
export async function profilesByIds(db: Executor, ids: string[]): Promise<Map<string, Pick<User, 'id' | 'email' | 'name' | 'role' | 'status'>>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('users').select(['id', 'email', 'name', 'role', 'status']).where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export async function insertUser(db: Executor, user: User): Promise<void> {
  await db.insertInto('users').values(user).execute();
}

/** Many users in one statement (an import's batch); the caller keeps a batch within the databases' parameter limits. */
export async function insertUsers(db: Executor, users: User[]): Promise<void> {
  if (users.length > 0) await db.insertInto('users').values(users).execute();
}

/** Up to `limit` users in email order after `afterEmail` (null: from the first), for reading the whole directory in pages. */
export function usersAfterEmail(db: Executor, afterEmail: string | null, limit: number): Promise<User[]> {
  let q = db.selectFrom('users').selectAll().orderBy('email').limit(limit);
  if (afterEmail !== null) q = q.where('email', '>', afterEmail);
  return q.execute();
}

export async function updateUserDetails(db: Executor, id: string, details: Pick<User, 'email' | 'name' | 'role'>): Promise<void> {
  await db
    .updateTable('users')
    .set({ ...details, search_key: searchKeyOf(details.name, details.email) })
    .where('id', '=', id)
    .execute();
}

export async function setUserLanguage(db: Executor, id: string, language: string | null): Promise<void> {
  await db.updateTable('users').set({ language }).where('id', '=', id).execute();
}

export async function setUserStatus(db: Executor, id: string, status: User['status']): Promise<void> {
  await db.updateTable('users').set({ status }).where('id', '=', id).execute();
}

/**
 * The address is proven: its user just used a link mailed to it. The one place that records it, so whatever
 * else proving an address should do (clearing an undeliverable mark) belongs here.
 */
export async function confirmAddress(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('users').set({ email_verified_at: now }).where('id', '=', id).execute();
}

/** An address nobody has proven yet (an administrator put it there). */
export async function markAddressUnverified(db: Executor, id: string): Promise<void> {
  await db.updateTable('users').set({ email_verified_at: null }).where('id', '=', id).execute();
}

export async function setPasswordHash(db: Executor, id: string, passwordHash: string, now: number): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, password_changed_at: now }).where('id', '=', id).execute();
}

/** A successful login; a new hash replaces the stored one when the hashing parameters changed. */
/** The languages some users chose, by id (users who chose none are left out). */
export async function languagesOfUsers(db: Executor, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('users').select(['id', 'language']).where('id', 'in', ids).where('language', 'is not', null).execute();
  return new Map(rows.map((row) => [row.id, row.language!]));
}

export async function recordLogin(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('users').set({ last_login_at: now }).where('id', '=', id).execute();
}

/**
 * A stronger hash of the password that was just verified replaces the stored one — only if that is still the hash
 * it was verified against: a password changed meanwhile (a reset finishing at the same moment) is never overwritten.
 */
export async function upgradeHash(db: Executor, id: string, verifiedHash: string, newHash: string): Promise<boolean> {
  const result = await db.updateTable('users').set({ password_hash: newHash }).where('id', '=', id).where('password_hash', '=', verifiedHash).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function countUsers(db: Executor): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export const USER_FILTERS = [
  'active',
  'archived',
  'admins',
  'reset-pending',
  'never-logged-in',
  'two-step-on',
  'two-step-off',
  'invited',
  'invitation-expired',
  'unverified',
  'unverified-year',
  'undeliverable',
] as const;
export type UserFilter = (typeof USER_FILTERS)[number];
export const USER_SORTS = ['name', 'email', 'role', 'status', 'last_login', 'password_changed'] as const;
export type UserSort = (typeof USER_SORTS)[number];

export interface UserQuery {
  search?: string;
  filters?: UserFilter[];
  sort?: UserSort;
  dir?: 'asc' | 'desc';
  limit: number;
  offset?: number;
}

/** A row of the list: with whether a reset link is open, and whether a hard bounce marked the address (1 or 0). */
export type ListedUser = User & { reset_pending: number; undeliverable: number };

/** "Unverified for over a year": unverified, on an account created more than this long ago. */
export const UNVERIFIED_LONG_MS = 365 * 86_400_000;

/** Invited: created without a password and not yet chosen one (an active account that cannot log in yet). */
export function isInvited(user: Pick<User, 'status' | 'password_hash'>): boolean {
  return user.status === 'active' && user.password_hash === null;
}

const SORT_COLUMNS = {
  name: 'users.name',
  email: 'users.email',
  role: 'users.role',
  status: 'users.status',
  last_login: 'users.last_login_at',
  password_changed: 'users.password_changed_at',
} as const;

/**
 * Counts of matching users stop here: past it the list says "more than 10,000", which tells a person as
 * much as the exact number and spares counting a million rows on every page view. A `total` above the
 * cap means "more than the cap".
 */
export const COUNT_CAP = 10_000;

/** Escapes LIKE wildcards so a search for "100%" means the text "100%" (backslash is PostgreSQL's default escape). */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** An FTS5 phrase: the text in double quotes, its own quotes doubled, so nothing in it is query syntax. */
function ftsPhrase(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * A search, as the database will test it. PostgreSQL: LIKE, which the pg_trgm index answers. SQLite: when
 * few users match, the set of their rows — from the trigram index (users_search) for 3+ characters, else
 * from one pass over the search_key index; when many match, a test of each row read.
 */
type Search = { where: Expression<SqlBool>; many: boolean | null };

async function readSearch(db: Executor, search: string): Promise<Search> {
  const text = search.toLowerCase();
  if (dialectOf(db) === 'postgres') return { where: sql<SqlBool>`users.search_key like ${likePattern(text)}`, many: null };
  const eachRow = sql<SqlBool>`instr(users.search_key, ${text}) > 0`;
  if ([...text].length >= 3) {
    const matching = sql`select rowid from users_search where users_search match ${ftsPhrase(text)}`;
    const probe = await sql<{ n: number }>`select count(*) as n from (${matching} limit ${COUNT_CAP + 1})`.execute(db);
    // The index points at rowids, which SQLite may renumber (VACUUM on a table without an integer key):
    // each row it names is tested again, so a stale entry can hide a user but never show the wrong one.
    return Number(probe.rows[0]?.n) > COUNT_CAP ? { where: eachRow, many: true } : { where: sql<SqlBool>`users.rowid in (${matching}) and ${eachRow}`, many: false };
  }
  const found = await sql<{ rowid: number }>`select rowid from users where ${eachRow} limit ${COUNT_CAP + 1}`.execute(db);
  if (found.rows.length > COUNT_CAP) return { where: eachRow, many: true };
  return { where: sql<SqlBool>`users.rowid in (select value from json_each(${JSON.stringify(found.rows.map((row) => row.rowid))})) and ${eachRow}`, many: false };
}

/**
 * How a page is found. Few matches (up to COUNT_CAP) are found through the indexes and then sorted; many are
 * read in the list's order until the page is full. Each database's planner would sometimes pick the other way
 * (matches bunched at the end of the order cost it a whole-table read), so the plan is written into the SQL:
 * on SQLite a unary + keeps an index out, on PostgreSQL the sort is on an expression no index holds.
 */
type Plan = 'count' | 'find-then-sort' | 'in-list-order';

function filtered(db: Executor, query: Omit<UserQuery, 'limit'>, search: Search | null, plan: Plan, now: number) {
  const sqlite = dialectOf(db) === 'sqlite';
  // On SQLite the filters' indexes stay out when the search's set or the list's order leads.
  const plain = !sqlite || (search?.many !== false && plan !== 'in-list-order');
  const column = (name: string) => (plain ? sql.ref(name) : sql`+${sql.ref(name)}`);
  let q = db.selectFrom('users');
  if (search) q = q.where(search.where);
  for (const filter of query.filters ?? []) {
    if (filter === 'active') q = q.where(sql<SqlBool>`${column('users.status')} = 'active'`);
    if (filter === 'archived') q = q.where(sql<SqlBool>`${column('users.status')} = 'archived'`);
    if (filter === 'admins') q = q.where(sql<SqlBool>`${column('users.role')} = 'admin'`);
    if (filter === 'never-logged-in') q = q.where(sql<SqlBool>`${column('users.last_login_at')} is null`);
    // Users with a usable link: a set built once from the partial index of open links, not a probe per user.
    if (filter === 'reset-pending') q = q.where(sql<SqlBool>`${column('users.id')} in (${openLinksOf(db, now)})`);
    // Two-step verification: the set of user ids from its table's primary key, built once, as for reset-pending.
    if (filter === 'two-step-on') q = q.where(sql<SqlBool>`${column('users.id')} in (${usersWithTwoStep(db)})`);
    if (filter === 'two-step-off') q = q.where(sql<SqlBool>`${column('users.id')} not in (${usersWithTwoStep(db)})`);
    if (filter === 'invited') q = q.where(sql<SqlBool>`${column('users.status')} = 'active' and ${column('users.password_hash')} is null`);
    // Invited, and no link to choose a password works any more (the invitation ran out, or was never sent):
    // read from the open links themselves, so it holds after retention has removed the expired link.
    if (filter === 'invitation-expired') {
      q = q.where(
        sql<SqlBool>`${column('users.status')} = 'active' and ${column('users.password_hash')} is null and ${column('users.id')} not in (${openLinksOf(db, now, PASSWORD_LINKS)})`,
      );
    }
    if (filter === 'unverified') q = q.where(sql<SqlBool>`${column('users.email_verified_at')} is null`);
    if (filter === 'unverified-year') {
      q = q.where(sql<SqlBool>`${column('users.email_verified_at')} is null and ${column('users.created_at')} < ${now - UNVERIFIED_LONG_MS}`);
    }
    // Addresses a hard bounce marked: the set from the marks' primary key, matched on the users' email.
    if (filter === 'undeliverable') q = q.where(sql<SqlBool>`${column('users.email')} in (${undeliverableEmails(db)})`);
  }
  return q;
}

/** The list's order; for 'find-then-sort', as an expression no index holds, so the planner sorts the matches found. */
function sortKey(db: Executor, sort: UserSort | 'email', plan: Plan) {
  const column = sort === 'email' ? 'users.email' : SORT_COLUMNS[sort];
  if (plan !== 'find-then-sort') return sql.ref(column);
  if (dialectOf(db) === 'sqlite') return sql`+${sql.ref(column)}`;
  return sort === 'last_login' || sort === 'password_changed' ? sql`${sql.ref(column)} + 0` : sql`${sql.ref(column)} || ''`;
}

/**
 * One page of the directory, with whether each user has a reset link outstanding, and how many match: with a
 * search or a filter, exact up to COUNT_CAP and COUNT_CAP + 1 for "more"; the whole directory exactly.
 */
export async function listUsers(db: Executor, query: UserQuery, now: number): Promise<{ rows: ListedUser[]; total: number }> {
  const search = query.search ? await readSearch(db, query.search) : null;
  const filters = query.filters ?? [];
  let total: number;
  if (!search && filters.length === 0) total = await countUsers(db);
  else if (search?.many && filters.length === 0) total = COUNT_CAP + 1;
  else {
    const matching = filtered(db, query, search, 'count', now).select(sql<number>`1`.as('one')).limit(COUNT_CAP + 1).as('matching');
    const count = await db.selectFrom(matching).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    total = Number(count.n);
  }
  if (total === 0) return { rows: [], total };
  const plan: Plan = total > COUNT_CAP ? 'in-list-order' : 'find-then-sort';
  const dir = query.dir ?? 'asc';
  const sort = query.sort ?? 'name';
  const listed = (q: ReturnType<typeof filtered>, order: Plan) =>
    q
      .selectAll('users')
      .select((eb) => eb.case().when('users.id', 'in', openLinksOf(db, now)).then(1).else(0).end().as('reset_pending'))
      .select((eb) => eb.case().when('users.email', 'in', undeliverableEmails(db)).then(1).else(0).end().as('undeliverable'))
      .orderBy(sortKey(db, sort, order), dir)
      .orderBy(sortKey(db, 'email', order), dir);
  if (plan === 'find-then-sort') {
    const rows = await listed(filtered(db, query, search, plan, now), plan).limit(query.limit).offset(query.offset ?? 0).execute();
    return { rows: rows as ListedUser[], total };
  }
  // In the list's order: the page's keys first, from index entries alone (the sort indexes hold what the
  // filters read), then only those rows; skipping to a late page reads no rows it skips.
  const key = sql.ref(dialectOf(db) === 'sqlite' ? 'users.rowid' : 'users.id');
  const page = filtered(db, query, search, plan, now)
    .select(key.as('page_key'))
    .orderBy(sortKey(db, sort, plan), dir)
    .orderBy(sortKey(db, 'email', plan), dir)
    .limit(query.limit)
    .offset(query.offset ?? 0);
  const rows = await listed(db.selectFrom('users').where(sql<SqlBool>`${key} in (${page})`), 'find-then-sort').execute();
  return { rows: rows as ListedUser[], total };
}

/** Ids of every user that matches, for a bulk action on "all that match the current search". */
export async function matchingUserIds(db: Executor, query: Omit<UserQuery, 'limit'>, now: number, cap: number): Promise<string[]> {
  const search = query.search ? await readSearch(db, query.search) : null;
  const rows = await filtered(db, query, search, 'count', now).select('users.id').orderBy('users.name').limit(cap).execute();
  return rows.map((row) => row.id);
}
