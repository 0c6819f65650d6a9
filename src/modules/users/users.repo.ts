// SQL for the user directory.
import { sql } from 'kysely';
import type { Executor, UsersTable } from '../../infra/db.ts';

export type User = UsersTable;

export function findUserByEmail(db: Executor, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export function findUserById(db: Executor, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertUser(db: Executor, user: User): Promise<void> {
  await db.insertInto('users').values(user).execute();
}

export async function countUsers(db: Executor): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Escapes LIKE wildcards so a search for "100%" means the text "100%". */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function searchUsers(db: Executor, options: { search?: string; limit: number; offset?: number }): Promise<User[]> {
  let query = db.selectFrom('users').selectAll().orderBy('name').orderBy('email').limit(options.limit).offset(options.offset ?? 0);
  if (options.search) {
    const pattern = likePattern(options.search);
    query = query.where(sql<boolean>`(lower(name) like ${pattern} escape '\\' or email like ${pattern} escape '\\')`);
  }
  return query.execute();
}
