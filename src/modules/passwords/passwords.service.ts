// Changing a password, however it happens: policy, hash, void reset links, end sessions, notify, audit.
import type { Clock } from '../../infra/clock.ts';
import type { Tx } from '../../infra/db.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { User } from '../users/users.repo.ts';
import { hashPassword } from './hashing.ts';
import type { PasswordPolicy } from './policy.ts';

export type ChangeMethod = 'reset' | 'account' | 'command line' | 'administrator';

/** A password refused by the policy: the list of every rule it breaks. */
export class PasswordRefused extends UserError {
  constructor(readonly broken: string[]) {
    super(broken.join(' '), 400, { password: broken.join(' ') });
  }
}

export class Passwords {
  constructor(
    private readonly clock: Clock,
    readonly policy: PasswordPolicy,
    private readonly sessions: Sessions,
    private readonly outbox: Outbox,
  ) {}

  /** Checks the new password and its confirmation and hashes it; throws PasswordRefused or UserError. */
  async prepare(user: Pick<User, 'name' | 'email'>, password: string, confirmation: string): Promise<string> {
    const broken = this.policy.check(password, { name: user.name, email: user.email });
    if (broken.length > 0) throw new PasswordRefused(broken);
    if (password !== confirmation) {
      throw new UserError('The two passwords do not match.', 400, { confirmation: 'The two passwords do not match.' });
    }
    return hashPassword(password);
  }

  /**
   * Stores an already prepared hash inside the caller's transaction: the old password stops working,
   * outstanding reset links are voided, every session ends, and the user is told by email.
   */
  async apply(trx: Tx, user: User, passwordHash: string, how: ChangeMethod, actor: Actor): Promise<void> {
    const now = this.clock.now();
    await trx.updateTable('users').set({ password_hash: passwordHash, password_changed_at: now }).where('id', '=', user.id).execute();
    await trx
      .updateTable('reset_links')
      .set({ revoked_at: now, revoked_reason: 'password_changed' })
      .where('user_id', '=', user.id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
    await this.outbox.forgetTokens(trx, user.id);
    const ended = await this.sessions.endAll(trx, user.id);
    await recordAudit(trx, now, actor, { type: 'password.changed', userId: user.id, email: user.email, detail: { how, sessionsEnded: ended } });
    await this.outbox.enqueue(trx, actor, {
      to: user.email,
      userId: user.id,
      mail: { template: 'password_changed', params: { name: user.name, changedAt: now, how } },
    });
  }
}
