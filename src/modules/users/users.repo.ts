// SQL for the user directory: the only code that reads or writes the users table.
import { sql } from 'kysely';
import { forUpdate, type Executor, type UsersTable } from '../../infra/db.ts';
import { openLinksOf } from '../recovery/reset-links.repo.ts';

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

export async function insertUser(db: Executor, user: User): Promise<void> {
  await db.insertInto('users').values(user).execute();
}

export async function updateUserDetails(db: Executor, id: string, details: Pick<User, 'email' | 'name' | 'role'>): Promise<void> {
  await db
    .updateTable('users')
    .set({ ...details, search_key: searchKeyOf(details.name, details.email) })
    .where('id', '=', id)
    .execute();
}

export async function setUserStatus(db: Executor, id: string, status: User['status']): Promise<void> {
  await db.updateTable('users').set({ status }).where('id', '=', id).execute();
}

export async function setPasswordHash(db: Executor, id: string, passwordHash: string, now: number): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, password_changed_at: now }).where('id', '=', id).execute();
}

/** A successful login; a new hash replaces the stored one when the hashing parameters changed. */
export async function recordLogin(db: Executor, id: string, now: number, newHash: string | null = null): Promise<void> {
  await db
    .updateTable('users')
    .set(newHash ? { last_login_at: now, password_hash: newHash } : { last_login_at: now })
    .where('id', '=', id)
    .execute();
}

export async function countUsers(db: Executor): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export const USER_FILTERS = ['active', 'archived', 'admins', 'reset-pending', 'never-logged-in'] as const;
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

export type ListedUser = User & { reset_pending: number };

const SORT_COLUMNS = {
  name: 'users.name',
  email: 'users.email',
  role: 'users.role',
  status: 'users.status',
  last_login: 'users.last_login_at',
  password_changed: 'users.password_changed_at',
} as const;

/** Escapes LIKE wildcards so a search for "100%" means the text "100%". */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filtered(db: Executor, query: UserQuery, now: number) {
  // Users with a usable link: a set built once from the partial index of open links, not a probe per user.
  const withOpenLink = openLinksOf(db, now);
  let q = db.selectFrom('users');
  if (query.search) q = q.where(sql<boolean>`users.search_key like ${likePattern(query.search)} escape '\\'`);
  for (const filter of query.filters ?? []) {
    if (filter === 'active') q = q.where('users.status', '=', 'active');
    if (filter === 'archived') q = q.where('users.status', '=', 'archived');
    if (filter === 'admins') q = q.where('users.role', '=', 'admin');
    if (filter === 'never-logged-in') q = q.where('users.last_login_at', 'is', null);
    if (filter === 'reset-pending') q = q.where('users.id', 'in', withOpenLink);
  }
  return { q, withOpenLink };
}

/** One page of the directory, with whether each user has a reset link outstanding, and the total that match. */
export async function listUsers(db: Executor, query: UserQuery, now: number): Promise<{ rows: ListedUser[]; total: number }> {
  const { q, withOpenLink } = filtered(db, query, now);
  const dir = query.dir ?? 'asc';
  const rows = await q
    .selectAll('users')
    .select((eb) => eb.case().when('users.id', 'in', withOpenLink).then(1).else(0).end().as('reset_pending'))
    .orderBy(SORT_COLUMNS[query.sort ?? 'name'], dir)
    .orderBy('users.email', dir)
    .limit(query.limit)
    .offset(query.offset ?? 0)
    .execute();
  const count = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return { rows: rows as ListedUser[], total: Number(count.n) };
}

/** Ids of every user that matches, for a bulk action on "all that match the current search". */
export async function matchingUserIds(db: Executor, query: Omit<UserQuery, 'limit'>, now: number, cap: number): Promise<string[]> {
  const { q } = filtered(db, { ...query, limit: cap }, now);
  const rows = await q.select('users.id').orderBy('users.name').limit(cap).execute();
  return rows.map((row) => row.id);
}

