// Invitations and proven addresses: a user created without a password is invited by mail; an address is proven by
// using a link mailed to it; a user's own address change waits for the new address to be confirmed and can be undone
// from the old one. Every link here is a reset link with another purpose, so it obeys the same rules.
import type { Clock } from '../../infra/clock.ts';
import { isUniqueViolation, type Db, type Tx } from '../../infra/db.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Passwords } from '../passwords/passwords.service.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { normalizeEmail } from '../users/identity.ts';
import { findUserByEmail, lockUserById, updateUserDetails, type User } from '../users/users.repo.ts';
import type { NewUser, UserDirectory } from '../users/users.service.ts';
import { LinkUnusable, type Inspection, type Recovery } from './recovery.service.ts';
import { addressProven } from './proven.ts';
import { claimLink, findLinkById, stateOf, voidOpenLinks, type LinkPurpose, type ResetLink } from './reset-links.repo.ts';

/** The links the address pages take: confirm the address, confirm a new address, undo a change. */
export const ADDRESS_PAGE_LINKS: Record<'confirm' | 'undo', LinkPurpose[]> = { confirm: ['confirm', 'email-change'], undo: ['email-undo'] };

export interface AddressSettings {
  invitationTtlSeconds: number;
  /** Lifetime of a link that confirms an address (the reset link's). */
  confirmTtlSeconds: number;
}

/** Who sent an invitation or a request to confirm: the console, the command line or the API (as the console's actions). */
export type SentBy = 'admin' | 'cli';

/** What an address link did, for the page that says so. */
export type AddressOutcome = { purpose: 'confirm' | 'email-change'; user: User } | { purpose: 'email-undo'; user: User; restored: string };

/** RFC 2606 reserves .invalid for addresses that can never receive mail (placeholders for people without one). */
const cannotReceiveMail = (email: string) => email.endsWith('.invalid');

export class Addresses {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly recovery: Recovery,
    private readonly users: UserDirectory,
    private readonly passwords: Passwords,
    private readonly sessions: Sessions,
    private readonly settings: AddressSettings,
  ) {}

  /**
   * Creates a user (console "New User", `users add`, the API). Without a password, the user is invited in the same
   * transaction: the invitation mail's link lets them choose one. A placeholder address (.invalid) gets no mail.
   */
  async createUser(input: NewUser, actor: Actor, by: SentBy): Promise<{ user: User; invited: boolean }> {
    let invited = false;
    const user = await this.users.create(input, actor, async (trx, created) => {
      if (input.password || cannotReceiveMail(created.email)) return;
      await this.invite(trx, created, actor, by);
      invited = true;
    });
    return { user, invited };
  }

  /** "Resend Invitation": a new invitation link, mailed; the earlier one stops working. */
  async resendInvitation(userId: string, actor: Actor, by: SentBy): Promise<User> {
    return this.db.transaction().execute(async (trx) => {
      const user = await this.mailableUser(trx, userId);
      if (user.password_hash !== null) throw new UserError(t('addresses.errors.passwordChosen', { email: user.email }), 409);
      await this.invite(trx, user, actor, by);
      return user;
    });
  }

  /** An administrator asks the user to confirm the address: a mail with a link that only confirms it. */
  async askToConfirm(userId: string, actor: Actor, by: SentBy): Promise<User> {
    return this.db.transaction().execute(async (trx) => {
      const user = await this.mailableUser(trx, userId);
      if (user.password_hash === null) throw new UserError(t('addresses.errors.notAccepted', { email: user.email }), 409);
      const link = await this.recovery.issueLinkWithMail(
        trx,
        user,
        {
          purpose: 'confirm',
          by,
          ttlSeconds: this.settings.confirmTtlSeconds,
          to: user.email,
          email: user.email,
          mail: { template: 'confirm_email', params: { name: user.name, ttlSeconds: this.settings.confirmTtlSeconds } },
        },
        actor,
      );
      await recordAudit(trx, this.clock.now(), actor, { type: 'email.confirmation_requested', userId: user.id, email: user.email, detail: { link: link.id, by } });
      return user;
    });
  }

  /**
   * The signed-in user asks to move to a new address, with the current password. Nothing changes yet: the new
   * address gets a link that makes the change, and the old address is told, with a link that undoes it.
   */
  async requestEmailChange(user: User, session: Session, input: { email: string; current: string }, actor: Actor): Promise<{ outcome: 'sent'; to: string } | { outcome: 'wrong current' | 'session ended' }> {
    const email = normalizeEmail(input.email);
    if (email === user.email) throw new UserError(t('addresses.errors.sameAddress'), 400, { email: t('addresses.errors.sameAddress') });
    if (cannotReceiveMail(email)) throw new UserError(t('addresses.errors.cannotReceive'), 400, { email: t('addresses.errors.cannotReceive') });
    const checked = await this.passwords.checkCurrent(user, session, input.current, actor, 'email.change_refused');
    if (checked !== 'ok') return { outcome: checked };
    if (await findUserByEmail(this.db, email)) throw new UserError(t('addresses.errors.taken'), 409, { email: t('addresses.errors.taken') });
    await this.db.transaction().execute(async (trx) => {
      const locked = await lockUserById(trx, user.id);
      if (!locked || locked.status !== 'active') throw new UserError(t('addresses.errors.cannotChange'), 409);
      const params = { name: locked.name, newEmail: email };
      const change = await this.recovery.issueLinkWithMail(
        trx,
        locked,
        { purpose: 'email-change', by: 'self', ttlSeconds: this.settings.confirmTtlSeconds, to: email, email, mail: { template: 'email_change', params: { ...params, ttlSeconds: this.settings.confirmTtlSeconds } } },
        actor,
      );
      // The old address is told, with the way back; a placeholder address (.invalid) has nobody to tell.
      const undo = cannotReceiveMail(locked.email)
        ? null
        : await this.recovery.issueLinkWithMail(
            trx,
            locked,
            {
              purpose: 'email-undo',
              by: 'self',
              ttlSeconds: this.settings.invitationTtlSeconds,
              to: locked.email,
              email: locked.email,
              mail: { template: 'email_change_notice', params: { ...params, ttlSeconds: this.settings.invitationTtlSeconds } },
            },
            actor,
          );
      await recordAudit(trx, this.clock.now(), actor, { type: 'email.change_requested', userId: locked.id, email: locked.email, detail: { to: email, link: change.id, undo: undo?.id ?? null } });
    });
    return { outcome: 'sent', to: email };
  }

  /** What an address link is worth right now; opening its page never uses it up. */
  inspect(token: string, page: keyof typeof ADDRESS_PAGE_LINKS): Promise<Inspection> {
    return this.recovery.inspect(token, ADDRESS_PAGE_LINKS[page]);
  }

  /**
   * Uses an address link, exactly once: it proves the address it was mailed to and does what it is for —
   * confirm the address, move to the new address, or put back the old one (which also logs out every session,
   * as whoever made the change may hold one). An address now used by someone else leaves the link usable.
   */
  async useAddressLink(token: string, page: keyof typeof ADDRESS_PAGE_LINKS, actor: Actor): Promise<AddressOutcome> {
    const found = await this.inspect(token, page);
    if (found.state !== 'usable') {
      await this.recovery.recordOpened(found, actor);
      throw new LinkUnusable(found.state);
    }
    try {
      return await this.db.transaction().execute(async (trx) => {
        const now = this.clock.now();
        const user = await lockUserById(trx, found.user.id);
        if (!user || user.status !== 'active') throw new LinkUnusable('invalid');
        await this.claim(trx, found.link, now);
        const link = found.link;
        const detail = { link: link.id, purpose: link.purpose };
        if (link.purpose === 'confirm') {
          // Confirms the address it was sent to, and no other (a change of address voids it anyway).
          if (link.email !== user.email) throw new LinkUnusable('invalid');
          await addressProven(trx, now, actor, user, 'a confirmation link mailed to it was used');
          await recordAudit(trx, now, actor, { type: 'email.confirmed', userId: user.id, email: user.email, detail });
          return { purpose: 'confirm', user: { ...user, email_verified_at: now } };
        }
        const target = link.email ?? user.email;
        const moved = target !== user.email;
        if (moved) {
          await updateUserDetails(trx, user.id, { email: target, name: user.name, role: user.role });
          await recordAudit(trx, now, actor, {
            type: 'user.updated',
            userId: user.id,
            email: target,
            detail: { changes: { email: { from: user.email, to: target } }, how: link.purpose === 'email-undo' ? 'undone from the old address' : 'confirmed by the user' },
          });
        }
        // The address moved (or a pending move was called off): links mailed for the old state stop working.
        await voidOpenLinks(trx, user.id, 'email_changed', now);
        await addressProven(trx, now, actor, { id: user.id, email: target }, link.purpose === 'email-undo' ? 'an undo link mailed to it was used' : 'a confirmation link mailed to it was used');
        const changed = { ...user, email: target, email_verified_at: now };
        if (link.purpose === 'email-change') {
          await recordAudit(trx, now, actor, { type: 'email.confirmed', userId: user.id, email: target, detail });
          return { purpose: 'email-change', user: changed };
        }
        const ended = await this.sessions.endAll(trx, user.id, undefined, actor);
        await recordAudit(trx, now, actor, { type: 'email.change_undone', userId: user.id, email: target, detail: { ...detail, from: user.email, sessionsEnded: ended } });
        return { purpose: 'email-undo', user: changed, restored: target };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UserError(t('addresses.errors.takenSince', { email: found.link.email ?? '' }), 409);
      throw error;
    }
  }

  /** A new invitation link and its mail; the caller holds the user's row lock. */
  private async invite(trx: Tx, user: User, actor: Actor, by: SentBy): Promise<void> {
    const ttlSeconds = this.settings.invitationTtlSeconds;
    const link = await this.recovery.issueLinkWithMail(
      trx,
      user,
      { purpose: 'invitation', by, ttlSeconds, to: user.email, email: user.email, mail: { template: 'invitation', params: { name: user.name, ttlSeconds } } },
      actor,
    );
    await recordAudit(trx, this.clock.now(), actor, { type: 'invitation.sent', userId: user.id, email: user.email, detail: { link: link.id, by } });
  }

  /** Uses the link up; of two simultaneous uses exactly one gets here. */
  private async claim(trx: Tx, link: ResetLink, now: number): Promise<void> {
    if (await claimLink(trx, link.id, now)) return;
    const latest = await findLinkById(trx, link.id);
    const state = latest ? stateOf(latest, now) : 'invalid';
    throw new LinkUnusable(state === 'usable' ? 'invalid' : state);
  }

  /** The user, locked until the transaction ends, if a mail can reach them. */
  private async mailableUser(trx: Tx, userId: string): Promise<User> {
    const user = await lockUserById(trx, userId);
    if (!user) throw new UserError(t('addresses.errors.noUser'), 404);
    if (user.status !== 'active') throw new UserError(t('addresses.errors.archived', { email: user.email }), 409);
    if (cannotReceiveMail(user.email)) throw new UserError(t('addresses.errors.noMail', { email: user.email }), 409);
    return user;
  }
}
