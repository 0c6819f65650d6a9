// Changing a password, however it happens: policy, hash, void reset links, end sessions, notify, audit.
import type { Clock } from '../../infra/clock.ts';
import type { Db, Tx } from '../../infra/db.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import { voidOpenLinks } from '../recovery/reset-links.repo.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Throttle } from '../throttle/throttle.ts';
import { setPasswordHash, type User } from '../users/users.repo.ts';
import { hashPassword, verifyPassword } from './hashing.ts';
import type { PasswordPolicy } from './policy.ts';

export type ChangeMethod = 'reset' | 'invitation' | 'account' | 'command line' | 'administrator';

const WRONG_CURRENT = 'wrong current password';

/** A password refused by the policy: the list of every rule it breaks. */
export class PasswordRefused extends UserError {
  constructor(readonly broken: string[]) {
    super(broken.join(' '), 400, { password: broken.join(' ') });
  }
}

/** What became of a change on /account: changed (with the new session's token), or a wrong current password. */
export type OwnChange = { outcome: 'changed'; sessionToken: string; session: Session } | { outcome: 'wrong current' } | { outcome: 'session ended' };

export class Passwords {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    readonly policy: PasswordPolicy,
    private readonly sessions: Sessions,
    private readonly outbox: Outbox,
    private readonly throttle: Throttle,
  ) {}

  /** Checks the new password and its confirmation and hashes it; throws PasswordRefused or UserError. */
  async prepare(user: Pick<User, 'name' | 'email'>, password: string, confirmation: string): Promise<string> {
    const broken = this.policy.check(password, { name: user.name, email: user.email });
    if (broken.length > 0) throw new PasswordRefused(broken);
    if (password !== confirmation) {
      throw new UserError(t('passwords.mismatch'), 400, { confirmation: t('passwords.mismatch') });
    }
    return hashPassword(password);
  }

  /**
   * The signed-in user's own change on /account. A wrong current password is counted: after a few, the
   * session ends (a stolen session must not become a way to guess the password). Throws PasswordRefused
   * or UserError for a refused new password. Every session ends with the old password, this one too; the
   * person changing it gets a fresh one.
   */
  async changeOwn(user: User, session: Session, input: { current: string; password: string; confirmation: string }, actor: Actor): Promise<OwnChange> {
    const checked = await this.checkCurrent(user, session, input.current, actor, 'password.change_refused');
    if (checked !== 'ok') return { outcome: checked };
    const hash = await this.prepare(user, input.password, input.confirmation);
    const started = await this.db.transaction().execute(async (trx) => {
      await this.apply(trx, user, hash, 'account', actor);
      // The new session is remembered as the one it replaces was.
      return this.sessions.start(trx, user.id, actor, { remembered: session.remembered === 1 });
    });
    return { outcome: 'changed', sessionToken: started.token, session: started.session };
  }

  /**
   * The signed-in user's current password, asked again before a change to the account (its password, its
   * address). A wrong one is audited as `refusal` and counted: after a few, the session ends.
   */
  async checkCurrent(user: User, session: Session, current: string, actor: Actor, refusal: 'password.change_refused' | 'email.change_refused'): Promise<'ok' | 'wrong current' | 'session ended'> {
    const { ok } = await verifyPassword(user.password_hash, current);
    if (ok) return 'ok';
    await recordAudit(this.db, this.clock.now(), actor, {
      type: refusal,
      userId: user.id,
      email: user.email,
      detail: { how: 'account', reason: WRONG_CURRENT },
    });
    if (!(await this.throttle.wrongCurrentPassword(user.id))) return 'wrong current';
    await this.sessions.endForWrongPasswords(user, session, actor);
    return 'session ended';
  }

  /** An administrator sets the password of an active user; throws PasswordRefused or UserError. */
  async setByAdministrator(user: User, password: string, confirmation: string, actor: Actor): Promise<void> {
    if (user.status !== 'active') throw new UserError(t('passwords.restoreFirst'), 409);
    const hash = await this.prepare(user, password, confirmation);
    await this.db.transaction().execute((trx) => this.apply(trx, user, hash, 'administrator', actor));
  }

  /**
   * Stores an already prepared hash inside the caller's transaction: the old password stops working,
   * outstanding reset links are voided, every session ends, and the user is told by email.
   */
  async apply(trx: Tx, user: User, passwordHash: string, how: ChangeMethod, actor: Actor): Promise<void> {
    const now = this.clock.now();
    await setPasswordHash(trx, user.id, passwordHash, now);
    await voidOpenLinks(trx, user.id, 'password_changed', now);
    const ended = await this.sessions.endAll(trx, user.id, undefined, actor);
    await recordAudit(trx, now, actor, { type: 'password.changed', userId: user.id, email: user.email, detail: { how, sessionsEnded: ended } });
    await this.outbox.enqueue(trx, actor, {
      to: user.email,
      userId: user.id,
      mail: { template: 'password_changed', params: { name: user.name, changedAt: now, how } },
    });
  }
}
