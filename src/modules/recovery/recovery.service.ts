// Reset links as a flow: requested (one small write, the same for every address), issued with its mail in one
// transaction by the courier's pass, inspected without being used up, redeemed exactly once.
import type { Db, Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, newOrderedId, randomToken } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { requestLanguage, t } from '../../infra/i18n.ts';
import { GroupCommit } from '../../infra/group-commit.ts';
import { recordAudit, recordAuditsOf, type Actor, type AuditEntry } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import { linkWasMailed, undeliverableMarks } from '../mail/bounces.service.ts';
import { resetForUndeliverable } from '../security/alerts.ts';
import { auditQuery } from '../security/links.ts';
import { raiseAlerts, RESET_TYPES } from '../security/security.service.ts';
import type { Passwords } from '../passwords/passwords.service.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Throttle } from '../throttle/throttle.ts';
import type { SecondStep, TwoStep } from '../twostep/twostep.service.ts';
import { normalizeEmail } from '../users/identity.ts';
import { findUserById, findUsersByEmails, lockUserById, lockUsersByIds, recordLogin, type User } from '../users/users.repo.ts';
import type { MailTemplate } from '../mail/templates.ts';
import {
  claimLink,
  findLinkById,
  findLinkByTokenHash,
  hasOpenLink,
  insertLink,
  insertLinks,
  stateOf,
  voidOpenLinks,
  voidOpenLinksOf,
  ADDRESS_LINKS,
  PASSWORD_LINKS,
  type LinkPurpose,
  type LinkState,
  type ResetLink,
} from './reset-links.repo.ts';
import { addressProven } from './proven.ts';
import { claimRequests, insertRequests, removeClaimed, type ResetRequest } from './reset-requests.repo.ts';

/** Requests acted on in one transaction. */
export const REQUEST_BATCH = 50;

/** The claim on a batch of requests ran out and another instance took them: this pass's work is undone. */
class RequestsTakenOver extends Error {}

export type UnusableState = Exclude<LinkState, 'usable'>;

export type Inspection = { state: 'usable'; link: ResetLink; user: User } | { state: UnusableState; link?: ResetLink; user?: User };

/** A link that cannot be used, with the reason the page shows. */
export class LinkUnusable extends UserError {
  constructor(readonly state: UnusableState) {
    super(`reset link ${state}`, state === 'invalid' ? 404 : 410);
  }
}

/** A redeemed link in the browser: signed in, or (two-step verification) the second step still to pass. */
export type Redeemed = { user: User; sessionToken: string } | { user: User; sessionToken: null; secondStep: Exclude<SecondStep, 'none'> };

/** An emailed link to issue: what it is for, the address it is about, how long it works, and the mail that carries it. */
export interface LinkOrder {
  purpose: LinkPurpose;
  by: ResetLink['requested_by'];
  ttlSeconds: number;
  /** Where the mail goes: the user's address, or the new address an address change waits to confirm. */
  to: string;
  email?: string | null;
  mail: MailTemplate;
}

export interface RecoverySettings {
  ttlSeconds: number;
  /** How long a pass may hold requests before another instance may act on them (it stopped mid-pass). */
  requestLeaseMs: number;
}

// 32 random bytes in base64url: 43 characters. Anything else is not a token Latchkey made.
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export class Recovery {
  /** Requests that arrive together are recorded in one statement and one commit. */
  private readonly requestWrites = new GroupCommit<ResetRequest>((requests) => insertRequests(this.db, requests));

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly passwords: Passwords,
    private readonly sessions: Sessions,
    private readonly outbox: Outbox,
    private readonly throttle: Throttle,
    private readonly settings: RecoverySettings,
    private readonly twoStep: TwoStep,
  ) {}

  /**
   * The self-service request: recorded in one small write — the same work, the same time and the same load
   * for a known, an unknown or an archived address — and answered. The courier's next pass acts on it
   * (actOnRequests); a request that was answered is in the database, so it survives a crash. Throws only
   * for a malformed address.
   */
  async requestReset(typedEmail: string, actor: Actor): Promise<void> {
    const email = normalizeEmail(typedEmail);
    await this.requestWrites.add({
      id: newOrderedId(),
      email,
      // The address is kept as typed too: look-alikes and typos are what an investigation looks for.
      typed: typedEmail.slice(0, 320),
      ip: actor.ip ?? null,
      user_agent: actor.userAgent ? actor.userAgent.slice(0, 300) : null,
      requested_at: this.clock.now(),
      claim_id: null,
      lease_until: null,
      language: requestLanguage(),
    });
    this.outbox.notify('request');
  }

  /**
   * Acts on waiting self-service requests, a batch at a time, oldest first: only an active account gets a
   * link and a mail, within its hourly allowance; every request is audited with what came of it. A batch
   * is one transaction that also removes its requests, so each is acted on once, whichever instance
   * claims it. Returns how many requests it took (0 when none wait).
   */
  async actOnRequests(): Promise<number> {
    const now = this.clock.now();
    const claimId = randomToken(12);
    const requests = await claimRequests(this.db, claimId, now, this.settings.requestLeaseMs, REQUEST_BATCH);
    if (requests.length === 0) return 0;
    const byEmail = new Map((await findUsersByEmails(this.db, requests.map((request) => request.email))).map((user) => [user.email, user]));
    // Allowances are taken before the transaction (the throttle keeps its counts in its own store).
    const allowed = new Set<ResetRequest>();
    for (const request of requests) {
      const user = byEmail.get(request.email);
      if (user?.status === 'active' && (await this.throttle.takeResetMail(user.id, request.ip))) allowed.add(request);
    }
    try {
      await this.db.transaction().execute(async (trx) => {
        const locked = new Map((await lockUsersByIds(trx, [...byEmail.values()].map((user) => user.id))).map((user) => [user.id, user]));
        const accountOf = (request: ResetRequest) => {
          const user = locked.get(byEmail.get(request.email)?.id ?? '');
          return user && user.email === request.email ? user : undefined;
        };
        // Of several requests for one account in a batch, the newest gets the link: only the newest link works anyway.
        const answering = new Map<string, { user: User; request: ResetRequest }>();
        for (const request of requests) {
          const user = accountOf(request);
          if (user?.status === 'active' && allowed.has(request)) answering.set(user.id, { user, request });
        }
        const linkOf = await this.issueMany(trx, [...answering.values()]);
        const events: Array<{ at: number; actor: Actor; entry: AuditEntry }> = requests.map((request) => {
          const user = accountOf(request);
          const requested = { type: 'reset.requested' as const, userId: user?.id ?? null, email: request.email };
          const entry: AuditEntry =
            user?.status !== 'active'
              ? { ...requested, detail: { typed: request.typed, outcome: user ? 'archived account: nothing sent' : 'no account: nothing sent' } }
              : !allowed.has(request)
                ? { type: 'reset.throttled', userId: user.id, email: request.email, detail: { typed: request.typed } }
                : // One event says both that it was asked for and which link answered it.
                  { ...requested, detail: { typed: request.typed, link: linkOf.get(user.id) } };
          return { at: request.requested_at, actor: { ip: request.ip, userAgent: request.user_agent }, entry };
        });
        await recordAuditsOf(trx, events);
        await this.alertUndeliverable(trx, requests.map(accountOf).filter((user): user is User => user?.status === 'active'), now);
        if ((await removeClaimed(trx, claimId, requests.map((request) => request.id))) !== requests.length) throw new RequestsTakenOver();
      });
    } catch (error) {
      if (!(error instanceof RequestsTakenOver)) throw error;
    }
    return requests.length;
  }

  /**
   * A reset asked for an account whose address bounced: the person got the usual answer and the usual mail, which
   * will likely not arrive; administrators are alerted so someone reaches the person another way.
   */
  private async alertUndeliverable(trx: Tx, users: User[], now: number): Promise<void> {
    const marks = await undeliverableMarks(trx, users.map((user) => user.email));
    if (marks.size === 0) return;
    const findings = [...marks.values()].map((mark) =>
      resetForUndeliverable({ email: mark.email, bounce: mark.reason }, auditQuery({ types: RESET_TYPES, user: mark.email, from: now - 3600_000, to: now + 1 })),
    );
    await raiseAlerts(trx, this.outbox, now, findings);
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

  /**
   * What a link is worth right now, to a page that takes links of these purposes (by default those that choose a
   * password). Opening the page uses this: it never uses the link up.
   */
  async inspect(token: string, purposes: LinkPurpose[] = PASSWORD_LINKS): Promise<Inspection> {
    if (!TOKEN_FORMAT.test(token)) return { state: 'invalid' };
    const link = await findLinkByTokenHash(this.db, hashToken(token));
    if (!link || !purposes.includes(link.purpose)) return { state: 'invalid' };
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
      detail: { link: inspection.link?.id ?? null, state: inspection.state, ...(inspection.link && inspection.link.purpose !== 'reset' ? { purpose: inspection.link.purpose } : {}) },
    });
  }

  /**
   * Sets the new password with the link, exactly once. A refused password or a mismatched confirmation
   * leaves the link usable; the link is used up by one conditional update, so of two simultaneous
   * attempts exactly one succeeds. On success every session of the user ends and a new one starts.
   */
  async redeem(token: string, password: string, confirmation: string, actor: Actor, options: { signIn: false }): Promise<{ user: User; sessionToken: null }>;
  async redeem(token: string, password: string, confirmation: string, actor: Actor, options?: { signIn: true }): Promise<Redeemed>;
  async redeem(token: string, password: string, confirmation: string, actor: Actor, options: { signIn: boolean } = { signIn: true }): Promise<Redeemed | { user: User; sessionToken: null }> {
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
      const invitation = found.link.purpose === 'invitation';
      await recordAudit(trx, now, actor, { type: invitation ? 'invitation.accepted' : 'reset.link_used', userId: user.id, email: user.email, detail: { link: found.link.id } });
      // A link that came by mail to this very address (an address change voids it) proves the mailbox, whatever an
      // earlier bounce said; a link printed for delivery by hand proves nothing about it.
      if (await linkWasMailed(trx, found.link.id)) await addressProven(trx, now, actor, user, invitation ? 'an invitation mailed to it was used' : 'a reset link mailed to it was used');
      await this.passwords.apply(trx, user, passwordHash, invitation ? 'invitation' : 'reset', actor);
      // As stored: a pending second step is bound to this very password change (apply reads the clock itself).
      const changed = (await findUserById(trx, user.id)) ?? { ...user, password_hash: passwordHash, password_changed_at: now };
      // Through the API, the application that built the page signs the person in (or sends them to log in).
      if (!options.signIn) return { user: changed, sessionToken: null };
      // A mailbox is one factor: a user with two-step verification passes it before any session starts. The new
      // password stands either way (the link is used and the notification is queued above).
      const secondStep = await this.twoStep.secondStepFor(trx, user);
      if (secondStep !== 'none') return { user: changed, sessionToken: null, secondStep };
      const { token: sessionToken } = await this.sessions.start(trx, user.id, actor);
      await recordLogin(trx, user.id, now);
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: { via: invitation ? 'invitation link' : 'reset link' } });
      return { user: { ...changed, last_login_at: now }, sessionToken };
    });
  }

  /** The user, locked until the transaction ends (PostgreSQL): two requests for one user cannot leave two open links. */
  private async usableUser(trx: Tx, userId: string): Promise<User> {
    const user = await lockUserById(trx, userId);
    if (!user) throw new UserError(t('recovery.errors.noUser'), 404);
    if (user.status !== 'active') throw new UserError(t('recovery.errors.archived', { email: user.email }), 409);
    // RFC 2606 reserves .invalid for addresses that can never receive mail (placeholders for people without one).
    if (user.email.endsWith('.invalid')) throw new UserError(t('recovery.errors.noMail', { email: user.email }), 409);
    return user;
  }

  /**
   * A new link replaces every earlier one of the user: only the newest link works. The caller holds the
   * user's row lock (lockUserById), so on PostgreSQL two simultaneous requests void and insert one after
   * the other and cannot leave two open links.
   */
  private async issue(
    trx: Tx,
    user: User,
    by: ResetLink['requested_by'],
    actor: Actor,
    order: Pick<LinkOrder, 'purpose' | 'ttlSeconds' | 'email'> = { purpose: 'reset', ttlSeconds: this.settings.ttlSeconds },
  ): Promise<{ token: string; link: ResetLink }> {
    const now = this.clock.now();
    // Newest only among the links that do the same thing; undo links never replace each other (each restores its own address).
    const replaces = PASSWORD_LINKS.includes(order.purpose) ? PASSWORD_LINKS : ADDRESS_LINKS.includes(order.purpose) ? ADDRESS_LINKS : [];
    if (replaces.length > 0) await voidOpenLinks(trx, user.id, 'replaced', now, replaces);
    const { token, link } = this.newLink(user.id, by, now, order);
    await insertLink(trx, link);
    const purpose = order.purpose === 'reset' ? {} : { purpose: order.purpose };
    await recordAudit(trx, now, actor, { type: 'reset.link_issued', userId: user.id, email: user.email, detail: { link: link.id, by, ...purpose } });
    return { token, link };
  }

  /**
   * Any emailed link with its mail, in the caller's transaction, which holds the user's row lock (lockUserById):
   * invitations, address confirmations and undo links follow every rule of a reset link.
   */
  async issueLinkWithMail(trx: Tx, user: User, order: LinkOrder, actor: Actor): Promise<ResetLink> {
    const { token, link } = await this.issue(trx, user, order.by, actor, order);
    await this.outbox.enqueue(trx, actor, { to: order.to, userId: user.id, resetLinkId: link.id, token, mail: order.mail });
    return link;
  }

  /** A fresh token and its link (only the token's hash is kept); the token goes into the mail or to the caller. */
  private newLink(
    userId: string,
    by: ResetLink['requested_by'],
    now: number,
    order: Pick<LinkOrder, 'purpose' | 'ttlSeconds' | 'email'> = { purpose: 'reset', ttlSeconds: this.settings.ttlSeconds },
  ): { token: string; link: ResetLink } {
    const token = randomToken(32);
    return {
      token,
      link: {
        id: newOrderedId(),
        user_id: userId,
        token_hash: hashToken(token),
        created_at: now,
        expires_at: now + order.ttlSeconds * 1000,
        used_at: null,
        revoked_at: null,
        revoked_reason: null,
        requested_by: by,
        purpose: order.purpose,
        email: order.email ?? null,
      },
    };
  }

  /** Links and mails for a batch of self-service requests, in a handful of statements; the users are locked. */
  private async issueMany(trx: Tx, answering: Array<{ user: User; request: ResetRequest }>): Promise<Map<string, string>> {
    const now = this.clock.now();
    const issued = answering.map(({ user, request }) => ({ user, request, ...this.newLink(user.id, 'self', now) }));
    await voidOpenLinksOf(trx, issued.map(({ user }) => user.id), 'replaced', now, PASSWORD_LINKS);
    await insertLinks(trx, issued.map(({ link }) => link));
    await this.outbox.enqueueMany(
      trx,
      issued.map(({ user, request, token, link }) => ({
        actor: { ip: request.ip, userAgent: request.user_agent },
        queued: {
          to: user.email,
          userId: user.id,
          resetLinkId: link.id,
          token,
          // The account's own language, else the one the request was made in.
          language: user.language ?? request.language,
          mail: { template: 'reset', params: { name: user.name, ttlSeconds: this.settings.ttlSeconds, sentByAdministrator: false } },
        },
      })),
    );
    return new Map(issued.map(({ user, link }) => [user.id, link.id]));
  }

  private async issueWithMail(trx: Tx, user: User, by: ResetLink['requested_by'], actor: Actor): Promise<string> {
    const { token, link } = await this.issue(trx, user, by, actor);
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
