// Logging in with email and password: one answer for every failure, per-account throttling, rehash on login.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { hashPassword, verifyPassword } from '../passwords/hashing.ts';
import type { UserDirectory } from '../users/users.service.ts';
import type { User } from '../users/users.repo.ts';
import type { Sessions } from './sessions.ts';

export const LOGIN_FAILED = 'Wrong email or password.';
export const LOGIN_THROTTLED = 'Too many failed attempts for this email. Wait 15 minutes, or reset your password.';

const FAILURE_WINDOW_MS = 15 * 60_000;
/** Failures for one address from one IP address before that pair is paused. */
const FAILURES_PER_ADDRESS_AND_IP = 10;
/**
 * Failures for one address from everywhere before it is paused: high enough that a stranger cannot lock
 * the owner out from one machine, low enough to stop a spread-out guessing attack.
 */
const FAILURES_PER_ADDRESS = 100;

export class Login {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly users: UserDirectory,
    private readonly sessions: Sessions,
  ) {}

  /** Returns the user and a new session token, or throws UserError with the same message for every failure. */
  async login(typedEmail: string, password: string, actor: Actor): Promise<{ user: User; token: string }> {
    const email = typedEmail.trim().toLowerCase().slice(0, 254);
    // Counted by address as typed, known or not, so throttling itself does not reveal which accounts exist.
    // Refused attempts are recorded apart (login.throttled) and do not extend the pause.
    const since = this.clock.now() - FAILURE_WINDOW_MS;
    const failures = await this.db
      .selectFrom('audit_events')
      .select((eb) => [eb.fn.countAll<number>().as('all'), eb.fn.sum<number>(eb.case().when('ip', '=', actor.ip ?? '').then(1).else(0).end()).as('here')])
      .where('email', '=', email)
      .where('type', '=', 'login.failed')
      .where('at', '>', since)
      .executeTakeFirstOrThrow();
    if (Number(failures.here ?? 0) >= FAILURES_PER_ADDRESS_AND_IP || Number(failures.all) >= FAILURES_PER_ADDRESS) {
      await recordAudit(this.db, this.clock.now(), actor, { type: 'login.throttled', email });
      throw new UserError(LOGIN_THROTTLED, 429);
    }

    const found = await this.users.findByTypedEmail(typedEmail);
    const user = found?.status === 'active' ? found : null;
    const { ok, needsRehash } = await verifyPassword(user?.password_hash ?? null, password);
    if (!user || !ok) {
      await recordAudit(this.db, this.clock.now(), actor, {
        type: 'login.failed',
        userId: found?.id ?? null,
        email,
        detail: { reason: found ? (found.status === 'archived' ? 'archived' : 'wrong password') : 'unknown email' },
      });
      throw new UserError(LOGIN_FAILED, 401);
    }

    const newHash = needsRehash ? await hashPassword(password) : null;
    const now = this.clock.now();
    const token = await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set(newHash ? { last_login_at: now, password_hash: newHash } : { last_login_at: now })
        .where('id', '=', user.id)
        .execute();
      const started = await this.sessions.start(trx, user.id, actor);
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: newHash ? { rehashed: true } : undefined });
      return started.token;
    });
    return { user: { ...user, last_login_at: now }, token };
  }
}
