// Reset links as a flow: issue (with its mail, in one transaction), inspect without using up, redeem exactly once.
import type { Db, Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, newId, randomToken } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Passwords } from '../passwords/passwords.service.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Throttle } from '../throttle/throttle.ts';
import { normalizeEmail } from '../users/identity.ts';
import { findUserByEmail, findUserById, lockUserById, recordLogin, type User } from '../users/users.repo.ts';
import {
  claimLink,
  findLinkById,
  findLinkByTokenHash,
  hasOpenLink,
  insertLink,
  stateOf,
  voidOpenLinks,
  type LinkState,
  type ResetLink,
} from './reset-links.repo.ts';

export type UnusableState = Exclude<LinkState, 'usable'>;

export type Inspection = { state: 'usable'; link: ResetLink; user: User } | { state: UnusableState; link?: ResetLink; user?: User };

/** A link that cannot be used, with the reason the page shows. */
export class LinkUnusable extends UserError {
  constructor(readonly state: UnusableState) {
    super(`reset link ${state}`, state === 'invalid' ? 404 : 410);
  }
}

export interface RecoverySettings {
  ttlSeconds: number;
}

// 32 random bytes in base64url: 43 characters. Anything else is not a token Latchkey made.
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export class Recovery {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly passwords: Passwords,
    private readonly sessions: Sessions,
    private readonly outbox: Outbox,
    private readonly throttle: Throttle,
    private readonly settings: RecoverySettings,
  ) {}

  /**
   * The self-service request. Known, unknown and archived addresses get the same outcome (the page also
   * answers after the same minimum time); only an active account gets a link and a mail. Throws only for
   * a malformed address.
   */
  async requestReset(typedEmail: string, actor: Actor): Promise<void> {
    const typed = typedEmail.slice(0, 320);
    const email = normalizeEmail(typedEmail);
    const now = this.clock.now();
    const found = await findUserByEmail(this.db, email);
    // The address is kept as typed too: look-alikes and typos are what an investigation looks for.
    const requested = { type: 'reset.requested' as const, userId: found?.id ?? null, email };
    const nothingSent = (user: User | undefined) => ({ ...requested, detail: { typed, outcome: user ? 'archived account: nothing sent' : 'no account: nothing sent' } });
    if (!found || found.status !== 'active') {
      await recordAudit(this.db, now, actor, nothingSent(found));
      return;
    }
    // Counted before the transaction: the throttle keeps its counts in its own store, shared by every instance.
    if (!(await this.throttle.takeResetMail(found.id, actor.ip ?? null))) {
      await recordAudit(this.db, now, actor, { type: 'reset.throttled', userId: found.id, email, detail: { typed } });
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      const user = await lockUserById(trx, found.id);
      if (!user || user.status !== 'active') {
        await recordAudit(trx, now, actor, nothingSent(user));
        return;
      }
      // One event says both that it was asked for and which link answered it.
      const link = await this.issueWithMail(trx, user, 'self', actor, false);
      await recordAudit(trx, now, actor, { ...requested, detail: { typed, link } });
    });
  }

  /** The administrator's or the command line's "Send Password Reset Instructions". */
  async sendInstructions(userId: string, actor: Actor, by: 'admin' | 'cli'): Promise<User> {
    return this.db.transaction().execute(async (trx) => {
      const user = await this.usableUser(trx, userId);
      await this.issueWithMail(trx, user, by, actor);
      return user;
    });
  }

  /** A fresh link for delivery by hand; it replaces any earlier link, like a mailed one. */
  async linkForHand(userId: string, actor: Actor): Promise<{ user: User; link: string }> {
    return this.db.transaction().execute(async (trx) => {
      const user = await this.usableUser(trx, userId);
      const { token } = await this.issue(trx, user, 'cli', actor);
      return { user, link: this.outbox.linkFor(token) };
    });
  }

  /** What a link is worth right now. Opening the page uses this: it never uses the link up. */
  async inspect(token: string): Promise<Inspection> {
    if (!TOKEN_FORMAT.test(token)) return { state: 'invalid' };
    const link = await findLinkByTokenHash(this.db, hashToken(token));
    if (!link) return { state: 'invalid' };
    const user = await findUserById(this.db, link.user_id);
    if (!user || user.status !== 'active') return { state: 'invalid', link };
    return { state: stateOf(link, this.clock.now()), link, user } as Inspection;
  }

  /** Whether the user has a link that can still be used ("Reset pending" on the user's page). */
  hasOpenLink(userId: string): Promise<boolean> {
    return hasOpenLink(this.db, userId, this.clock.now());
  }

  /** Records that a link was opened (or refused) for the audit log. */
  async recordOpened(inspection: Inspection, actor: Actor): Promise<void> {
    await recordAudit(this.db, this.clock.now(), actor, {
      type: inspection.state === 'usable' ? 'reset.link_opened' : 'reset.link_refused',
      userId: inspection.user?.id ?? null,
      email: inspection.user?.email ?? null,
      detail: { link: inspection.link?.id ?? null, state: inspection.state },
    });
  }

  /**
   * Sets the new password with the link, exactly once. A refused password or a mismatched confirmation
   * leaves the link usable; the link is used up by one conditional update, so of two simultaneous
   * attempts exactly one succeeds. On success every session of the user ends and a new one starts.
   */
  async redeem(token: string, password: string, confirmation: string, actor: Actor): Promise<{ user: User; sessionToken: string }> {
    const found = await this.inspect(token);
    if (found.state !== 'usable') {
      await this.recordOpened(found, actor);
      throw new LinkUnusable(found.state);
    }
    let passwordHash: string;
    try {
      passwordHash = await this.passwords.prepare(found.user, password, confirmation);
    } catch (error) {
      await recordAudit(this.db, this.clock.now(), actor, {
        type: 'password.change_refused',
        userId: found.user.id,
        email: found.user.email,
        detail: { how: 'reset', reason: (error as Error).message },
      });
      throw error;
    }
    return this.db.transaction().execute(async (trx) => {
      const now = this.clock.now();
      if (!(await claimLink(trx, found.link.id, now))) {
        const latest = await findLinkById(trx, found.link.id);
        const state = latest ? stateOf(latest, now) : 'invalid';
        throw new LinkUnusable(state === 'usable' ? 'invalid' : state);
      }
      const user = await findUserById(trx, found.user.id);
      if (!user || user.status !== 'active') throw new LinkUnusable('invalid');
      await recordAudit(trx, now, actor, { type: 'reset.link_used', userId: user.id, email: user.email, detail: { link: found.link.id } });
      await this.passwords.apply(trx, user, passwordHash, 'reset', actor);
      const { token: sessionToken } = await this.sessions.start(trx, user.id, actor);
      await recordLogin(trx, user.id, now);
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: { via: 'reset link' } });
      return { user: { ...user, password_hash: passwordHash, password_changed_at: now, last_login_at: now }, sessionToken };
    });
  }

  /** The user, locked until the transaction ends (PostgreSQL): two requests for one user cannot leave two open links. */
  private async usableUser(trx: Tx, userId: string): Promise<User> {
    const user = await lockUserById(trx, userId);
    if (!user) throw new UserError('This user does not exist.', 404);
    if (user.status !== 'active') throw new UserError(`${user.email} is archived: an archived user cannot reset a password.`, 409);
    // RFC 2606 reserves .invalid for addresses that can never receive mail (placeholders for people without one).
    if (user.email.endsWith('.invalid')) throw new UserError(`${user.email} cannot receive mail: set a real email address first.`, 409);
    return user;
  }

  /**
   * A new link replaces every earlier one of the user: only the newest link works. The caller holds the
   * user's row lock (lockUserById), so on PostgreSQL two simultaneous requests void and insert one after
   * the other and cannot leave two open links.
   */
  private async issue(trx: Tx, user: User, by: ResetLink['requested_by'], actor: Actor, audit = true): Promise<{ token: string; link: ResetLink }> {
    const now = this.clock.now();
    const token = randomToken(32);
    await voidOpenLinks(trx, user.id, 'replaced', now);
    const link: ResetLink = {
      id: newId(),
      user_id: user.id,
      token_hash: hashToken(token),
      created_at: now,
      expires_at: now + this.settings.ttlSeconds * 1000,
      used_at: null,
      revoked_at: null,
      revoked_reason: null,
      requested_by: by,
    };
    await insertLink(trx, link);
    if (audit) await recordAudit(trx, now, actor, { type: 'reset.link_issued', userId: user.id, email: user.email, detail: { link: link.id, by } });
    return { token, link };
  }

  private async issueWithMail(trx: Tx, user: User, by: ResetLink['requested_by'], actor: Actor, audit = true): Promise<string> {
    const { token, link } = await this.issue(trx, user, by, actor, audit);
    await this.outbox.enqueue(trx, actor, {
      to: user.email,
      userId: user.id,
      resetLinkId: link.id,
      token,
      mail: { template: 'reset', params: { name: user.name, ttlSeconds: this.settings.ttlSeconds, sentByAdministrator: by === 'admin' } },
    });
    return link.id;
  }
}
