// SQL for reset links: the one place that knows what an open link is, how to void one and what a link is worth.
import type { Executor, ResetLinksTable } from '../../infra/db.ts';
import { forgetSealedTokens } from '../mail/outbox.ts';

export type ResetLink = ResetLinksTable;
export type LinkPurpose = ResetLink['purpose'];
export type VoidReason = NonNullable<ResetLink['revoked_reason']>;

/** Links that let their user choose a password: of these, only the newest works. */
export const PASSWORD_LINKS: LinkPurpose[] = ['reset', 'invitation'];
/** Links that prove the address or move to a new one: of these, only the newest works. */
export const ADDRESS_LINKS: LinkPurpose[] = ['confirm', 'email-change'];
/**
 * What each change voids. An undo link (sent to the old address when the user changes it) survives a password
 * or address change: those are what someone who took over the account would do next, and the undo is the way back.
 */
const VOIDED_BY: Record<Exclude<VoidReason, 'replaced'>, LinkPurpose[]> = {
  password_changed: [...PASSWORD_LINKS, ...ADDRESS_LINKS],
  email_changed: [...PASSWORD_LINKS, ...ADDRESS_LINKS],
  archived: [...PASSWORD_LINKS, ...ADDRESS_LINKS, 'email-undo'],
};
/** What a link is worth to the page that opens it. */
export type LinkState = 'usable' | 'expired' | 'used' | 'replaced' | 'invalid';
/** What a link is worth to the courier about to send its mail. */
export type MailLinkState = 'open' | 'missing' | 'used' | 'revoked' | 'expired';

/** The page's reading of a link: a link voided for any reason but a newer link says only "not valid". */
export function stateOf(link: ResetLink, now: number): LinkState {
  if (link.used_at !== null) return 'used';
  if (link.revoked_reason === 'replaced') return 'replaced';
  if (link.revoked_at !== null) return 'invalid';
  if (link.expires_at <= now) return 'expired';
  return 'usable';
}

/** The ids of users with an open link of these purposes (reset links by default), as a subquery (built from the partial index of open links). */
export function openLinksOf(db: Executor, now: number, purposes: LinkPurpose[] = ['reset']) {
  return db
    .selectFrom('reset_links')
    .select('reset_links.user_id')
    .where('reset_links.used_at', 'is', null)
    .where('reset_links.revoked_at', 'is', null)
    .where('reset_links.expires_at', '>', now)
    .where('reset_links.purpose', 'in', purposes);
}

export async function hasOpenLink(db: Executor, userId: string, now: number): Promise<boolean> {
  const row = await openLinksOf(db, now).where('reset_links.user_id', '=', userId).limit(1).executeTakeFirst();
  return row !== undefined;
}

/**
 * Voids every link of the user that the change voids (see VOIDED_BY; for 'replaced', the purposes given) and
 * is not used or voided yet, and wipes the sealed tokens of the user's mails but those of links that stay
 * open: once the links are void, nothing may keep their tokens. Run it inside the change's transaction.
 */
export async function voidOpenLinks(db: Executor, userId: string, reason: VoidReason, now: number, purposes?: LinkPurpose[]): Promise<void> {
  await voidOpenLinksOf(db, [userId], reason, now, purposes);
}

/** voidOpenLinks for several users in a few statements (the batch of self-service requests). */
export async function voidOpenLinksOf(db: Executor, userIds: string[], reason: VoidReason, now: number, purposes?: LinkPurpose[]): Promise<void> {
  if (userIds.length === 0) return;
  const voided = purposes ?? (reason === 'replaced' ? PASSWORD_LINKS : VOIDED_BY[reason]);
  const staying = db
    .selectFrom('reset_links')
    .select('id')
    .where('user_id', 'in', userIds)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('purpose', 'not in', voided);
  await forgetSealedTokens(db, userIds, staying);
  await db
    .updateTable('reset_links')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', 'in', userIds)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('purpose', 'in', voided)
    .execute();
}

export async function insertLink(db: Executor, link: ResetLink): Promise<void> {
  await insertLinks(db, [link]);
}

export async function insertLinks(db: Executor, links: ResetLink[]): Promise<void> {
  if (links.length > 0) await db.insertInto('reset_links').values(links).execute();
}

export function findLinkByTokenHash(db: Executor, tokenHash: string): Promise<ResetLink | undefined> {
  return db.selectFrom('reset_links').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export function findLinkById(db: Executor, id: string): Promise<ResetLink | undefined> {
  return db.selectFrom('reset_links').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Uses the link up if it is still open; of two simultaneous claims exactly one gets true. */
export async function claimLink(db: Executor, id: string, now: number): Promise<boolean> {
  const claimed = await db
    .updateTable('reset_links')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(claimed.numUpdatedRows) === 1;
}

/** Whether the mail of each link may still go out, and if not, why; one query for a batch of mails. */
export async function linkStatesForMail(db: Executor, linkIds: string[], now: number): Promise<Map<string, MailLinkState>> {
  const states = new Map<string, MailLinkState>(linkIds.map((id) => [id, 'missing']));
  if (linkIds.length === 0) return states;
  const links = await db.selectFrom('reset_links').select(['id', 'expires_at', 'used_at', 'revoked_at']).where('id', 'in', [...new Set(linkIds)]).execute();
  for (const link of links) {
    states.set(link.id, link.used_at !== null ? 'used' : link.revoked_at !== null ? 'revoked' : link.expires_at <= now ? 'expired' : 'open');
  }
  return states;
}

/**
 * Deletes up to `limit` links that expired before `before` (retention); returns how many. Whatever else a link
 * is (used, replaced, voided), past its expiry it can never be used again. Its mails keep their rows, without the link.
 */
export async function deleteLinksExpiredBefore(db: Executor, before: number, limit: number): Promise<number> {
  const oldest = db.selectFrom('reset_links').select('id').where('expires_at', '<', before).orderBy('expires_at').limit(limit);
  const result = await db.deleteFrom('reset_links').where('id', 'in', oldest).where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
