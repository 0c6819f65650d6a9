// Server-side sessions: a random id in the cookie, only its hash in the database, idle and absolute expiry.
import type { Db, Executor } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, randomToken } from '../../infra/crypto.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { findUserById, type User } from '../users/users.repo.ts';
import { revokeApplicationAccess } from '../oidc/revoke.ts';
import { deleteSession, deleteUserSessions, findSession, insertSession, listSessions, touchSession, type Session } from './sessions.repo.ts';

export interface SessionSettings {
  idleSeconds: number;
  maxSeconds: number;
}

// Writing last_seen on every request would turn each page view into a write; once a minute is enough.
const TOUCH_AFTER_MS = 60_000;

/** How a session began, as the ID token's amr claim says it: sessions from before it was recorded began with a password. */
export function amrOf(session: Pick<Session, 'amr'>): string[] {
  return session.amr ? session.amr.split(' ') : ['pwd'];
}

export class Sessions {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
  ) {}

  /** How long the browser keeps the session cookie: until it closes, unless the user asked to be remembered. */
  cookieLifetime(session: Pick<Session, 'remembered'>): number | undefined {
    return session.remembered ? this.settings.maxSeconds : undefined;
  }

  /**
   * Starts a session; returns the token for the cookie (never stored) and the stored row. `amr`: how the person
   * signed in (RFC 8176 values), a password unless said otherwise.
   */
  async start(db: Executor, userId: string, actor: Actor, options: { remembered?: boolean; amr?: string[] } = {}): Promise<{ token: string; session: Session }> {
    const token = randomToken(32);
    const now = this.clock.now();
    const session: Session = {
      id_hash: hashToken(token),
      user_id: userId,
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.settings.idleSeconds * 1000,
      absolute_expires_at: now + this.settings.maxSeconds * 1000,
      ip: actor.ip ?? '',
      user_agent: (actor.userAgent ?? '').slice(0, 300),
      remembered: options.remembered ? 1 : 0,
      amr: (options.amr ?? ['pwd']).join(' '),
    };
    await insertSession(db, session);
    return { token, session };
  }

  /** The signed-in user for a cookie value, or null; extends the idle expiry as the session is used. */
  async validate(token: string | undefined): Promise<{ user: User; session: Session } | null> {
    if (!token || token.length > 100) return null;
    const idHash = hashToken(token);
    const found = await findSession(this.db, idHash);
    if (!found) return null;
    const user = await findUserById(this.db, found.user_id);
    const now = this.clock.now();
    if (!user || found.expires_at <= now || found.absolute_expires_at <= now || user.status !== 'active') {
      await deleteSession(this.db, idHash);
      return null;
    }
    const session = { ...found };
    // Touch often enough that a session in use never reaches its idle limit between two touches.
    if (now - found.last_seen_at >= Math.min(TOUCH_AFTER_MS, this.settings.idleSeconds * 100)) {
      session.last_seen_at = now;
      session.expires_at = Math.min(now + this.settings.idleSeconds * 1000, found.absolute_expires_at);
      await touchSession(this.db, idHash, session.last_seen_at, session.expires_at);
    }
    return { user, session };
  }

  list(userId: string): Promise<Session[]> {
    return listSessions(this.db, userId, this.clock.now());
  }

  /**
   * Ends every session of the user but one (or all, without `keep`), and the user's sign-ins to applications
   * (their refresh tokens and grants); returns how many Latchkey sessions ended.
   */
  async endAll(db: Executor, userId: string, keep?: string, actor: Actor = {}): Promise<number> {
    const ended = await deleteUserSessions(db, userId, keep);
    await revokeApplicationAccess(db, this.clock.now(), actor, { id: userId }, 'credentials changed');
    return ended;
  }

  /** "Log out": this session ends on the server, not just in the browser. */
  async logOut(user: User, session: Session, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await deleteSession(trx, session.id_hash);
      await recordAudit(trx, this.clock.now(), actor, { type: 'logout', userId: user.id, email: user.email });
    });
  }

  /** "Log out other sessions" on /account: every session of the user but this one ends. */
  async endOthers(user: User, session: Session, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const ended = await deleteUserSessions(trx, user.id, session.id_hash);
      await recordAudit(trx, this.clock.now(), actor, { type: 'sessions.ended', userId: user.id, email: user.email, detail: { ended, kept: 'current' } });
      // The other sessions include those of applications: their refresh tokens end too.
      await revokeApplicationAccess(trx, this.clock.now(), actor, user, 'log out other sessions');
    });
  }

  /** The administrator's "end every session" on a user's page. */
  async endAllByAdministrator(user: User, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const ended = await deleteUserSessions(trx, user.id);
      await recordAudit(trx, this.clock.now(), actor, { type: 'sessions.ended', userId: user.id, email: user.email, detail: { ended, by: 'administrator' } });
      await revokeApplicationAccess(trx, this.clock.now(), actor, user, 'end all sessions');
    });
  }

  /** A stolen session must not become a way to guess the password: after too many wrong current passwords it ends. */
  async endForWrongPasswords(user: User, session: Session, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await deleteSession(trx, session.id_hash);
      await recordAudit(trx, this.clock.now(), actor, {
        type: 'sessions.ended',
        userId: user.id,
        email: user.email,
        detail: { ended: 1, reason: 'too many wrong current passwords' },
      });
    });
  }
}
