// SQL for sessions: the only code that reads or writes the sessions table.
import type { Executor, SessionsTable } from '../../infra/db.ts';

export type Session = SessionsTable;

export async function insertSession(db: Executor, session: Session): Promise<void> {
  await db.insertInto('sessions').values(session).execute();
}

export function findSession(db: Executor, idHash: string): Promise<Session | undefined> {
  return db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
}

export async function touchSession(db: Executor, idHash: string, lastSeenAt: number, expiresAt: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: lastSeenAt, expires_at: expiresAt }).where('id_hash', '=', idHash).execute();
}

export function listSessions(db: Executor, userId: string, now: number): Promise<Session[]> {
  return db.selectFrom('sessions').selectAll().where('user_id', '=', userId).where('expires_at', '>', now).orderBy('last_seen_at', 'desc').execute();
}

export async function deleteSession(db: Executor, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

/** Deletes every session of the user but one (or all, without `keep`); returns how many ended. */
export async function deleteUserSessions(db: Executor, userId: string, keep?: string): Promise<number> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (keep) query = query.where('id_hash', '!=', keep);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes up to `limit` sessions that expired before `before` (retention); returns how many. A live session is never among them. */
export async function deleteSessionsExpiredBefore(db: Executor, before: number, limit: number): Promise<number> {
  const oldest = db.selectFrom('sessions').select('id_hash').where('expires_at', '<', before).orderBy('expires_at').limit(limit);
  const result = await db.deleteFrom('sessions').where('id_hash', 'in', oldest).where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
