// A sign-in between its two steps: the password (or a reset link) was accepted, the second step is still to come.
// It lives only in this browser, sealed in an HttpOnly cookie, for a few minutes; no session exists until it is passed.
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

/** Whether the user of a pending sign-in may still finish it: still there, active, with the same password. */
export function stillPending(pending: PendingSignIn, user: User | undefined): user is User {
  return (
    user !== undefined &&
    user.status === 'active' &&
    user.id === pending.userId &&
    user.password_changed_at === pending.passwordChangedAt
  );
}
