// Server-side sessions: a random id in the cookie, only its hash in the database, idle and absolute expiry.
import type { Db, Executor, SessionsTable } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, randomToken } from '../../infra/crypto.ts';
import type { Actor } from '../audit/audit.ts';
import type { User } from '../users/users.repo.ts';

export type Session = SessionsTable;

export interface SessionSettings {
  idleSeconds: number;
  maxSeconds: number;
  secureCookies: boolean;
}

// Writing last_seen on every request would turn each page view into a write; once a minute is enough.
const TOUCH_AFTER_MS = 60_000;

export class Sessions {
  readonly cookieName: string;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
  ) {
    // __Host- binds the cookie to this exact origin over https; browsers refuse the prefix on http.
    this.cookieName = settings.secureCookies ? '__Host-latchkey_session' : 'latchkey_session';
  }

  cookieOptions(maxAgeSeconds: number) {
    return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: this.settings.secureCookies, maxAge: maxAgeSeconds };
  }

  /** Starts a session; returns the token for the cookie (never stored) and the stored row. */
  async start(db: Executor, userId: string, actor: Actor): Promise<{ token: string; session: Session }> {
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
    };
    await db.insertInto('sessions').values(session).execute();
    return { token, session };
  }

  /** The signed-in user for a cookie value, or null; extends the idle expiry as the session is used. */
  async validate(token: string | undefined): Promise<{ user: User; session: Session } | null> {
    if (!token || token.length > 100) return null;
    const idHash = hashToken(token);
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .selectAll('sessions')
      .select([
        'users.email',
        'users.name',
        'users.role',
        'users.status',
        'users.password_hash',
        'users.created_at as user_created_at',
        'users.last_login_at',
        'users.password_changed_at',
        'users.search_key',
      ])
      .where('sessions.id_hash', '=', idHash)
      .executeTakeFirst();
    if (!row) return null;
    const now = this.clock.now();
    if (row.expires_at <= now || row.absolute_expires_at <= now || row.status !== 'active') {
      await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
      return null;
    }
    const session: Session = {
      id_hash: row.id_hash,
      user_id: row.user_id,
      created_at: row.created_at,
      last_seen_at: row.last_seen_at,
      expires_at: row.expires_at,
      absolute_expires_at: row.absolute_expires_at,
      ip: row.ip,
      user_agent: row.user_agent,
    };
    // Touch often enough that a session in use never reaches its idle limit between two touches.
    if (now - row.last_seen_at >= Math.min(TOUCH_AFTER_MS, this.settings.idleSeconds * 100)) {
      session.last_seen_at = now;
      session.expires_at = Math.min(now + this.settings.idleSeconds * 1000, row.absolute_expires_at);
      await this.db
        .updateTable('sessions')
        .set({ last_seen_at: session.last_seen_at, expires_at: session.expires_at })
        .where('id_hash', '=', idHash)
        .execute();
    }
    const user: User = {
      id: row.user_id,
      email: row.email,
      name: row.name,
      role: row.role,
      status: row.status,
      password_hash: row.password_hash,
      created_at: row.user_created_at,
      last_login_at: row.last_login_at,
      password_changed_at: row.password_changed_at,
      search_key: row.search_key,
    };
    return { user, session };
  }

  list(userId: string): Promise<Session[]> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', this.clock.now())
      .orderBy('last_seen_at', 'desc')
      .execute();
  }

  async end(db: Executor, idHash: string): Promise<void> {
    await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  /** Ends every session of the user but one (or all, without `keep`); returns how many ended. */
  async endAll(db: Executor, userId: string, keep?: string): Promise<number> {
    let query = db.deleteFrom('sessions').where('user_id', '=', userId);
    if (keep) query = query.where('id_hash', '!=', keep);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
