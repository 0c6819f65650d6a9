// Logging in with email and password: one answer for every failure, pauses after repeated failures, rehash on login.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { hashPassword, verifyPassword } from '../passwords/hashing.ts';
import type { Throttle } from '../throttle/throttle.ts';
import type { UserDirectory } from '../users/users.service.ts';
import { recordLogin, upgradeHash, type User } from '../users/users.repo.ts';
import type { Session } from './sessions.repo.ts';
import type { Sessions } from './sessions.ts';
import type { SecondStep, TwoStep } from '../twostep/twostep.service.ts';

/** The one answer to every failed login, in the reader's language. */
export const LOGIN_FAILED = () => t('auth.errors.failed');
export const LOGIN_THROTTLED = () => t('auth.errors.throttled');

export class Login {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly users: UserDirectory,
    private readonly sessions: Sessions,
    private readonly throttle: Throttle,
    private readonly twoStep: TwoStep,
  ) {}

  /**
   * Returns the user and a new session with its token — or, for a user with two-step verification (or required to
   * set it up), no session yet but the second step to pass. Throws UserError with the same message for every failure.
   */
  async login(
    typedEmail: string,
    password: string,
    actor: Actor,
    options: { remembered?: boolean } = {},
  ): Promise<{ user: User; token: string; session: Session } | { user: User; secondStep: Exclude<SecondStep, 'none'> }> {
    const email = typedEmail.trim().toLowerCase().slice(0, 254);
    // Counted by address as typed, known or not, so throttling itself does not reveal which accounts exist.
    // Refused attempts are recorded apart (login.throttled) and do not extend the pause.
    if (await this.throttle.loginPaused(email, actor.ip ?? null)) {
      await recordAudit(this.db, this.clock.now(), actor, { type: 'login.throttled', email });
      throw new UserError(LOGIN_THROTTLED(), 429);
    }

    const found = await this.users.findByTypedEmail(typedEmail);
    const user = found?.status === 'active' ? found : null;
    const { ok, needsRehash } = await verifyPassword(user?.password_hash ?? null, password);
    if (!user || !ok) {
      await this.throttle.loginFailed(email, actor.ip ?? null);
      await recordAudit(this.db, this.clock.now(), actor, {
        type: 'login.failed',
        userId: found?.id ?? null,
        email,
        detail: { reason: found ? (found.status === 'archived' ? 'archived' : 'wrong password') : 'unknown email' },
      });
      throw new UserError(LOGIN_FAILED(), 401);
    }

    // The password was right: an old or imported hash is upgraded now, whether or not a second step follows (the
    // password is never at hand again). The same password under a stronger hash grants nothing new.
    const newHash = needsRehash && user.password_hash ? await hashPassword(password) : null;
    const verifiedHash = user.password_hash!;

    // No session before the second step (twostep/), which records the login once it is passed.
    const secondStep = await this.twoStep.secondStepFor(this.db, user);
    if (secondStep !== 'none') {
      if (newHash) await upgradeHash(this.db, user.id, verifiedHash, newHash);
      return { user, secondStep };
    }

    const now = this.clock.now();
    const started = await this.db.transaction().execute(async (trx) => {
      const rehashed = newHash !== null && (await upgradeHash(trx, user.id, verifiedHash, newHash));
      await recordLogin(trx, user.id, now);
      const session = await this.sessions.start(trx, user.id, actor, options);
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: rehashed ? { rehashed: true } : undefined });
      return session;
    });
    return { user: { ...user, last_login_at: now }, ...started };
  }
}
