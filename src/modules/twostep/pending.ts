// A sign-in between its two steps: the password (or a reset link) was accepted, the second step is still to come.
// It lives only in this browser, sealed in an HttpOnly cookie, for a few minutes; no session exists until it is passed.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../infra/clock.ts';
import type { BrowserCookies, CookieKind } from '../../infra/cookies.ts';
import type { SecretBox } from '../../infra/crypto.ts';
import type { User } from '../users/users.repo.ts';

/** How long a person has for the second step after the password. */
export const PENDING_SECONDS = 300;

export interface PendingSignIn {
  userId: string;
  /** What the first step was: the password, or an emailed reset link (whose password change already stands). */
  via: 'password' | 'reset link';
  /** "verify": the user has a method to use; "setup": the settings require one and the user has none yet. */
  step: 'verify' | 'setup';
  remembered: boolean;
  /** A local path to go to afterwards (checked by safeNext when it was taken). */
  next: string | null;
  /** The password as it was then: a password changed since (elsewhere) voids the pending sign-in. */
  passwordChangedAt: number | null;
}

/** Something sealed in a cookie for a few minutes, for this browser only, read back only before it expires. */
export class SealedCookie<T> {
  constructor(
    private readonly kind: CookieKind,
    private readonly cookies: BrowserCookies,
    /** Seals with the installation secret, for this purpose only. */
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly seconds: number,
  ) {}

  put(reply: FastifyReply, value: T): void {
    const sealed = this.box.seal(JSON.stringify({ kind: this.kind, value, expiresAt: this.clock.now() + this.seconds * 1000 }));
    this.cookies.set(reply, this.kind, sealed, this.seconds);
  }

  read(request: FastifyRequest): T | null {
    const cookie = this.cookies.read(request, this.kind);
    const opened = cookie === undefined || cookie.length > 4000 ? null : this.box.open(cookie);
    if (opened === null) return null;
    const { kind, value, expiresAt } = JSON.parse(opened) as { kind: CookieKind; value: T; expiresAt: number };
    // The kind is sealed too: one cookie's value moved into another's name is not read as that one.
    return kind === this.kind && expiresAt > this.clock.now() ? value : null;
  }

  clear(reply: FastifyReply): void {
    this.cookies.clear(reply, this.kind);
  }
}

/** Whether the user of a pending sign-in may still finish it: still there, active, with the same password. */
export function stillPending(pending: PendingSignIn, user: User | undefined): user is User {
  return (
    user !== undefined &&
    user.status === 'active' &&
    user.id === pending.userId &&
    user.password_changed_at === pending.passwordChangedAt
  );
}
