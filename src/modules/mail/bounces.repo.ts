// SQL for bounces: a message marked "Bounced", and the addresses marked "Undeliverable" (the undeliverable_addresses table).
import { forUpdate, type Executor, type MailMessagesTable, type UndeliverableAddressesTable } from '../../infra/db.ts';
import { newOrderedId } from '../../infra/crypto.ts';

export type UndeliverableMark = UndeliverableAddressesTable;

/** The message a return path named, locked until the transaction ends (PostgreSQL): one DSN is recorded once. */
export function lockMessage(db: Executor, id: string): Promise<MailMessagesTable | undefined> {
  return forUpdate(db, db.selectFrom('mail_messages').selectAll().where('id', '=', id)).executeTakeFirst();
}

/**
 * Marks a message "Bounced" with the receiving side's words, unless it is marked already; returns whether this
 * call marked it (a DSN received twice, or by two instances, is recorded once).
 */
export async function markBounced(db: Executor, id: string, words: string, reportedBy: string, at: number): Promise<boolean> {
  const changed = await db
    .updateTable('mail_messages')
    .set({ status: 'bounced', last_error: words, lease_until: null, claim_id: null, sealed_token: null })
    .where('id', '=', id)
    .where('status', '!=', 'bounced')
    .returning('id')
    .execute();
  if (changed.length === 0) return false;
  await db.insertInto('mail_attempts').values({ id: newOrderedId(), message_id: id, at, server: reportedBy, outcome: 'bounced', reply: words }).execute();
  return true;
}

/** Marks an address "Undeliverable" (or refreshes the mark with the newest bounce). */
export async function markUndeliverable(db: Executor, mark: UndeliverableMark): Promise<void> {
  await db
    .insertInto('undeliverable_addresses')
    .values(mark)
    .onConflict((oc) => oc.column('email').doUpdateSet({ message_id: mark.message_id, reason: mark.reason, marked_at: mark.marked_at }))
    .execute();
}

/** Removes the mark of an address; returns whether there was one. */
export async function clearUndeliverable(db: Executor, email: string): Promise<boolean> {
  const result = await db.deleteFrom('undeliverable_addresses').where('email', '=', email).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The marks of these (normalized) addresses, by address. */
export async function undeliverableMarks(db: Executor, emails: string[]): Promise<Map<string, UndeliverableMark>> {
  const unique = [...new Set(emails)];
  if (unique.length === 0) return new Map();
  const rows = await db.selectFrom('undeliverable_addresses').selectAll().where('email', 'in', unique).execute();
  return new Map(rows.map((row) => [row.email, row]));
}

/** Every marked address, as a subquery: the users list's "Undeliverable" filter reads it as a set. */
export function undeliverableEmails(db: Executor) {
  return db.selectFrom('undeliverable_addresses').select('undeliverable_addresses.email');
}

/**
 * Whether a reset link went out by mail (a link printed for delivery by hand did not). Its token exists only in
 * that mail, so whoever uses it read the mail — even before the worker recorded it as sent.
 */
export async function linkWasMailed(db: Executor, resetLinkId: string): Promise<boolean> {
  const row = await db.selectFrom('mail_messages').select('id').where('reset_link_id', '=', resetLinkId).limit(1).executeTakeFirst();
  return row !== undefined;
}
