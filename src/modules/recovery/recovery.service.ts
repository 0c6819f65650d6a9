// Reset links as a flow: issue (with its mail, in one transaction), inspect without using up, redeem exactly once.
import type { Db, ResetLinksTable, Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, newId, randomToken } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Passwords } from '../passwords/passwords.service.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { normalizeEmail } from '../users/identity.ts';
import { findUserByEmail, findUserById, type User } from '../users/users.repo.ts';

export type ResetLink = ResetLinksTable;
export type UnusableState = 'expired' | 'used' | 'replaced' | 'invalid';

export type Inspection = { state: 'usable'; link: ResetLink; user: User } | { state: UnusableState; link?: ResetLink; user?: User };

/** A link that cannot be used, with the reason the page shows. */
export class LinkUnusable extends UserError {
  constructor(readonly state: UnusableState) {
    super(`reset link ${state}`, state === 'invalid' ? 404 : 410);
  }
}

export interface RecoverySettings {
  ttlSeconds: number;
  /** Self-service reset emails per account per hour; 0 means no limit. */
  limitPerHour: number;
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
    await this.db.transaction().execute(async (trx) => {
      const user = await findUserByEmail(trx, email);
      // The address is kept as typed too: look-alikes and typos are what an investigation looks for.
      const requested = { type: 'reset.requested' as const, userId: user?.id ?? null, email };
      if (!user || user.status !== 'active') {
        await recordAudit(trx, now, actor, { ...requested, detail: { typed, outcome: user ? 'archived account: nothing sent' : 'no account: nothing sent' } });
        return;
      }
      if (await this.overLimit(trx, user.id, now, actor)) {
        await recordAudit(trx, now, actor, { type: 'reset.throttled', userId: user.id, email, detail: { typed } });
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
    const link = await this.db.selectFrom('reset_links').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    if (!link) return { state: 'invalid' };
    const user = await findUserById(this.db, link.user_id);
    if (!user || user.status !== 'active') return { state: 'invalid', link };
    return { state: this.stateOf(link), link, user } as Inspection;
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
      const claimed = await trx
        .updateTable('reset_links')
        .set({ used_at: now })
        .where('id', '=', found.link.id)
        .where('used_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) {
        const latest = await trx.selectFrom('reset_links').selectAll().where('id', '=', found.link.id).executeTakeFirstOrThrow();
        const state = this.stateOf(latest);
        throw new LinkUnusable(state === 'usable' ? 'invalid' : state);
      }
      const user = await findUserById(trx, found.user.id);
      if (!user || user.status !== 'active') throw new LinkUnusable('invalid');
      await recordAudit(trx, now, actor, { type: 'reset.link_used', userId: user.id, email: user.email, detail: { link: found.link.id } });
      await this.passwords.apply(trx, user, passwordHash, 'reset', actor);
      const { token: sessionToken } = await this.sessions.start(trx, user.id, actor);
      await trx.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id).execute();
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: { via: 'reset link' } });
      return { user: { ...user, password_hash: passwordHash, password_changed_at: now, last_login_at: now }, sessionToken };
    });
  }

  private stateOf(link: ResetLink): Inspection['state'] {
    if (link.used_at !== null) return 'used';
    if (link.revoked_reason === 'replaced') return 'replaced';
    if (link.revoked_at !== null) return 'invalid';
    if (link.expires_at <= this.clock.now()) return 'expired';
    return 'usable';
  }

  private async usableUser(trx: Tx, userId: string): Promise<User> {
    const user = await findUserById(trx, userId);
    if (!user) throw new UserError('This user does not exist.', 404);
    if (user.status !== 'active') throw new UserError(`${user.email} is archived: an archived user cannot reset a password.`, 409);
    // RFC 2606 reserves .invalid for addresses that can never receive mail (placeholders for people without one).
    if (user.email.endsWith('.invalid')) throw new UserError(`${user.email} cannot receive mail: set a real email address first.`, 409);
    return user;
  }

  /**
   * The hourly limit counts links asked for from this IP address, so a stranger elsewhere cannot use up
   * the owner's share; a higher limit across all addresses stops a spread-out flood of mail.
   */
  private async overLimit(trx: Tx, userId: string, now: number, actor: Actor): Promise<boolean> {
    const perHour = this.settings.limitPerHour;
    if (perHour === 0) return false;
    const since = now - 3600_000;
    const fromHere = await trx
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('at', '>', since)
      .where('type', '=', 'reset.requested')
      .where((eb) => (actor.ip ? eb('ip', '=', actor.ip) : eb('ip', 'is', null)))
      .executeTakeFirstOrThrow();
    if (Number(fromHere.n) >= perHour) return true;
    const everywhere = await trx
      .selectFrom('reset_links')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('requested_by', '=', 'self')
      .where('created_at', '>', since)
      .executeTakeFirstOrThrow();
    return Number(everywhere.n) >= perHour * 4;
  }

  /** A new link replaces every earlier one of the user: only the newest link works. */
  private async issue(trx: Tx, user: User, by: ResetLink['requested_by'], actor: Actor, audit = true): Promise<{ token: string; link: ResetLink }> {
    const now = this.clock.now();
    const token = randomToken(32);
    await this.outbox.forgetTokens(trx, user.id);
    await trx
      .updateTable('reset_links')
      .set({ revoked_at: now, revoked_reason: 'replaced' })
      .where('user_id', '=', user.id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
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
    await trx.insertInto('reset_links').values(link).execute();
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
