// SQL for the audit log: the only code that reads or writes the audit_events table.
import type { Insertable, Selectable } from 'kysely';
import type { AuditEventsTable, Executor } from '../../infra/db.ts';

export type AuditEvent = Selectable<AuditEventsTable>;

export async function insertAuditEvent(db: Executor, event: Omit<Insertable<AuditEventsTable>, 'id'>): Promise<void> {
  await db.insertInto('audit_events').values(event).execute();
}

/** Several events in one statement, in the order given. */
export async function insertAuditEvents(db: Executor, events: Array<Omit<Insertable<AuditEventsTable>, 'id'>>): Promise<void> {
  if (events.length > 0) await db.insertInto('audit_events').values(events).execute();
}

export interface AuditFilter {
  userId?: string;
  /** The address as recorded, for events of addresses that belong to nobody. */
  email?: string;
  type?: string;
  /** Any of these types (a figure of the Security view that adds several up). */
  types?: string[];
  /** Events of an address that has an account ('known') or of one that belongs to nobody ('unknown'). */
  account?: 'known' | 'unknown';
  /** Recorded from this address. */
  ip?: string;
  /** Recorded from one of these addresses. */
  ips?: string[];
  /** Recorded from an address that starts with one of these (the /24 of an IPv4 address: "203.0.113."). */
  ipPrefixes?: string[];
  from?: number;
  to?: number;
}

/** Newest first, in the order written; and how many events match in all. */
export async function listAuditEvents(db: Executor, filter: AuditFilter, limit: number, offset = 0): Promise<{ rows: AuditEvent[]; total: number }> {
  const q = matching(db, filter);
  const rows = await q.selectAll().orderBy('id', 'desc').limit(limit).offset(offset).execute();
  const count = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return { rows, total: Number(count.n) };
}

function matching(db: Executor, filter: AuditFilter) {
  let q = db.selectFrom('audit_events');
  if (filter.userId) q = q.where('user_id', '=', filter.userId);
  if (filter.email) q = q.where('email', '=', filter.email);
  if (filter.type) q = q.where('type', '=', filter.type);
  if (filter.types) q = q.where('type', 'in', filter.types);
  if (filter.account) q = q.where('user_id', filter.account === 'known' ? 'is not' : 'is', null);
  if (filter.ip) q = q.where('ip', '=', filter.ip);
  if (filter.ips) q = q.where('ip', 'in', filter.ips);
  const prefixes = filter.ipPrefixes;
  if (prefixes) q = q.where((eb) => eb.or(prefixes.map((prefix) => eb('ip', 'like', `${prefix}%`))));
  if (filter.from !== undefined) q = q.where('at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('at', '<', filter.to);
  return q;
}

/** The IPv6 addresses (as recorded) of the events that match, up to `cap`: a /64 is tested in code, its text varies. */
export async function distinctIpv6Addresses(db: Executor, filter: AuditFilter, cap: number): Promise<string[]> {
  const rows = await matching(db, filter).where('ip', 'like', '%:%').select('ip').distinct().limit(cap).execute();
  return rows.map((row) => row.ip!);
}

/**
 * Deletes events older than `before` from the start of the log, up to `limit` at a time (retention); returns
 * how many. The log's order (its id) is the order of writing, so the oldest events come first: this reads the
 * first `limit` events and takes those old enough, and fewer than `limit` means the rest are newer.
 */
export async function deleteAuditEventsBefore(db: Executor, before: number, limit: number): Promise<number> {
  const first = db.selectFrom('audit_events').select('id').orderBy('id').limit(limit);
  const result = await db.deleteFrom('audit_events').where('id', 'in', first).where('at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes up to `limit` events of these types older than `before` that concern no account and no signed-in actor; returns how many. */
export async function deleteAnonymousEventsBefore(db: Executor, types: readonly string[], before: number, limit: number): Promise<number> {
  // Found through audit_events_user (user_id, at): the events of no user, oldest first.
  const oldest = db
    .selectFrom('audit_events')
    .select('id')
    .where('user_id', 'is', null)
    .where('at', '<', before)
    .where('type', 'in', types)
    .where('actor_id', 'is', null)
    .orderBy('at')
    .limit(limit);
  const result = await db.deleteFrom('audit_events').where('id', 'in', oldest).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The newest event's id (0 for an empty log): a reader that starts now hears only of what comes after it. */
export async function lastAuditEventId(db: Executor): Promise<number> {
  const row = await db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(row?.id ?? 0);
}

/** Events of the given types with ids above `after`, oldest first (the webhooks' dispatcher tails the log so). */
export function auditEventsAfter(db: Executor, after: number, types: readonly string[], limit: number): Promise<Array<Pick<AuditEvent, 'id' | 'at' | 'type' | 'user_id' | 'email' | 'detail'>>> {
  return db
    .selectFrom('audit_events')
    .select(['id', 'at', 'type', 'user_id', 'email', 'detail'])
    .where('id', '>', after)
    .where('type', 'in', types)
    .orderBy('id')
    .limit(limit)
    .execute();
}
