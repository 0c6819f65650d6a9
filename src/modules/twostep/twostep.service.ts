// Two-step verification: authenticator apps and recovery codes — set up, used at sign-in (the session starts only
// then), throttled, audited, and removed by an administrator when a person has lost every way in.
import { randomBytes } from 'node:crypto';
import type { Db, Executor } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, type SecretBox } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import type { TwoStepRequired } from '../../config.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Throttle } from '../throttle/throttle.ts';
import { recordLogin, type User } from '../users/users.repo.ts';
import { authenticatorUri, matchingStep, newAuthenticatorSecret, qrCodeSvg } from './totp.ts';
import {
  claimRecoveryCode,
  claimStep,
  findAuthenticator,
  removeTwoStep,
  replaceRecoveryCodes,
  saveAuthenticator,
  unusedRecoveryCodes,
} from './twostep.repo.ts';

export const WRONG_CODE = 'That code is not correct. Enter the code your authenticator app shows now.';
export const WRONG_RECOVERY_CODE = 'That recovery code is not correct, or it was already used.';
export const SECOND_STEP_PAUSED = 'Too many wrong codes. Wait 15 minutes, then log in again.';
export const SETUP_CODE_WRONG = 'That code does not match. Check that the app was set up with this key, and enter the code it shows now.';

export const RECOVERY_CODE_COUNT = 10;
// Base32's letters and digits (no 0, 1, 8 or 9, easily misread): 10 of them carry 50 random bits.
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** What a user must do after the first step: nothing more, pass the second step, or set one up first. */
export type SecondStep = 'none' | 'verify' | 'setup';

/** A user's methods as /account and the console show them. */
export interface TwoStepMethods {
  authenticator: { createdAt: number; lastUsedAt: number | null } | null;
  recoveryCodesLeft: number;
}

export interface TwoStepSettings {
  required: TwoStepRequired;
  /** The name authenticator apps show beside the account. */
  issuer: string;
}

export interface SignInOptions {
  remembered: boolean;
  via: 'password' | 'reset link';
}

export type SignedIn = { token: string; session: Session };

function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  const letters = [...bytes].map((byte) => RECOVERY_ALPHABET[byte % 32]).join('');
  return `${letters.slice(0, 5)}-${letters.slice(5)}`;
}

/** A recovery code as typed, in the form it was hashed: lower case, without spaces or dashes. */
function recoveryCodeHash(typed: string): string | null {
  const code = typed.toLowerCase().replace(/[\s-]+/g, '');
  return /^[a-z2-7]{10}$/.test(code) ? hashToken(code) : null;
}

export class TwoStep {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sessions: Sessions,
    private readonly throttle: Throttle,
    private readonly outbox: Outbox,
    /** Seals authenticator secrets with the installation secret. */
    private readonly box: SecretBox,
    private readonly settings: TwoStepSettings,
  ) {}

  /** Whether the settings require this user to have two-step verification. */
  required(user: Pick<User, 'role'>): boolean {
    return this.settings.required === 'everyone' || (this.settings.required === 'admins' && user.role === 'admin');
  }

  /** What follows a correct password or a used reset link for this user (inside the caller's transaction if any). */
  async secondStepFor(db: Executor, user: User): Promise<SecondStep> {
    if (await findAuthenticator(db, user.id)) return 'verify';
    return this.required(user) ? 'setup' : 'none';
  }

  async methodsOf(userId: string): Promise<TwoStepMethods> {
    const authenticator = await findAuthenticator(this.db, userId);
    return {
      authenticator: authenticator ? { createdAt: authenticator.created_at, lastUsedAt: authenticator.last_used_at } : null,
      recoveryCodesLeft: authenticator ? await unusedRecoveryCodes(this.db, userId) : 0,
    };
  }

  /** A new secret for setting up an app, and what the page shows of it: the QR code and the key as text. */
  async newSetup(user: User): Promise<{ secret: string; qrSvg: string }> {
    return this.setupOf(user, newAuthenticatorSecret());
  }

  async setupOf(user: User, secret: string): Promise<{ secret: string; qrSvg: string }> {
    return { secret, qrSvg: await qrCodeSvg(authenticatorUri(secret, user.email, this.settings.issuer)) };
  }

  /**
   * Confirms an app by its first code and makes the recovery codes (replacing an earlier app and its codes);
   * returns the codes, shown once. Throws UserError when the code does not match the secret.
   */
  async enable(user: User, secret: string, code: string, actor: Actor): Promise<string[]> {
    return this.db.transaction().execute((trx) => this.enableIn(trx, user, secret, code, actor));
  }

  /** The settings required a method and the user had none: set up at sign-in, and the session starts. */
  async enableAndSignIn(user: User, secret: string, code: string, actor: Actor, options: SignInOptions): Promise<SignedIn & { codes: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const codes = await this.enableIn(trx, user, secret, code, actor);
      return { codes, ...(await this.startSession(trx, user, actor, options, 'authenticator')) };
    });
  }

  /** New recovery codes replace the old ones (used or not). */
  async regenerateRecoveryCodes(user: User, actor: Actor): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await findAuthenticator(trx, user.id))) throw new UserError('Set up two-step verification first.', 409);
      return this.newRecoveryCodes(trx, user, actor);
    });
  }

  /** The second step with the authenticator app's code; the session starts only when it is right and unused. */
  async signInWithCode(user: User, typed: string, actor: Actor, options: SignInOptions): Promise<SignedIn> {
    await this.refuseWhilePaused(user, actor);
    const authenticator = await findAuthenticator(this.db, user.id);
    const secret = authenticator ? this.box.open(authenticator.secret_sealed) : null;
    const step = secret === null ? null : matchingStep(secret, typed, this.clock.now());
    if (step === null) return this.failed(user, actor, 'authenticator', 'wrong code', WRONG_CODE);
    const started = await this.db.transaction().execute(async (trx) => {
      // A code is good for one sign-in: its time step (and every earlier one) is used up.
      if (!(await claimStep(trx, user.id, step, this.clock.now()))) return null;
      return this.startSession(trx, user, actor, options, 'authenticator');
    });
    return started ?? this.failed(user, actor, 'authenticator', 'code already used', WRONG_CODE);
  }

  /** The second step with a recovery code, which is then used up. */
  async signInWithRecoveryCode(user: User, typed: string, actor: Actor, options: SignInOptions): Promise<SignedIn> {
    await this.refuseWhilePaused(user, actor);
    const hash = recoveryCodeHash(typed);
    const started =
      hash === null
        ? null
        : await this.db.transaction().execute(async (trx) => {
            if (!(await claimRecoveryCode(trx, user.id, hash, this.clock.now()))) return null;
            const left = await unusedRecoveryCodes(trx, user.id);
            await recordAudit(trx, this.clock.now(), actor, { type: 'two_step.recovery_code_used', userId: user.id, email: user.email, detail: { left } });
            return this.startSession(trx, user, actor, options, 'recovery code');
          });
    return started ?? this.failed(user, actor, 'recovery code', 'wrong or used recovery code', WRONG_RECOVERY_CODE);
  }

  /**
   * An administrator's "Remove Two-Step Verification": the app and the recovery codes go, every session of the
   * user ends (applications' sign-ins too), and the user is told by mail — in one transaction.
   */
  async removeByAdministrator(user: User, actor: Actor, by: 'administrator' | 'command line' = 'administrator'): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (!(await removeTwoStep(trx, user.id))) throw new UserError(`${user.email} has no two-step verification to remove.`, 409);
      const now = this.clock.now();
      const ended = await this.sessions.endAll(trx, user.id, undefined, actor);
      await recordAudit(trx, now, actor, { type: 'two_step.removed', userId: user.id, email: user.email, detail: { by, sessionsEnded: ended } });
      await this.outbox.enqueue(trx, actor, { to: user.email, userId: user.id, mail: { template: 'two_step_removed', params: { name: user.name, removedAt: now } } });
    });
  }

  private async enableIn(trx: Executor, user: User, secret: string, code: string, actor: Actor): Promise<string[]> {
    const now = this.clock.now();
    const step = matchingStep(secret, code, now);
    if (step === null) throw new UserError(SETUP_CODE_WRONG, 400);
    // The confirming code is used: it cannot sign in again.
    await saveAuthenticator(trx, { user_id: user.id, secret_sealed: this.box.seal(secret), created_at: now, last_used_step: step, last_used_at: now });
    await recordAudit(trx, now, actor, { type: 'two_step.enabled', userId: user.id, email: user.email, detail: { method: 'authenticator' } });
    return this.newRecoveryCodes(trx, user, actor);
  }

  private async newRecoveryCodes(trx: Executor, user: User, actor: Actor): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await replaceRecoveryCodes(trx, user.id, codes.map((code) => recoveryCodeHash(code)!), this.clock.now());
    await recordAudit(trx, this.clock.now(), actor, { type: 'two_step.recovery_codes_created', userId: user.id, email: user.email, detail: { count: codes.length } });
    return codes;
  }

  private async startSession(trx: Executor, user: User, actor: Actor, options: SignInOptions, method: 'authenticator' | 'recovery code'): Promise<SignedIn> {
    const now = this.clock.now();
    await recordLogin(trx, user.id, now);
    const started = await this.sessions.start(trx, user.id, actor, { remembered: options.remembered });
    await recordAudit(trx, now, actor, { type: 'two_step.used', userId: user.id, email: user.email, detail: { method } });
    await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: { via: options.via, secondStep: method } });
    return started;
  }

  private async refuseWhilePaused(user: User, actor: Actor): Promise<void> {
    if (!(await this.throttle.secondStepPaused(user.id))) return;
    await recordAudit(this.db, this.clock.now(), actor, { type: 'login.throttled', userId: user.id, email: user.email, detail: { step: 'second' } });
    throw new UserError(SECOND_STEP_PAUSED, 429);
  }

  /** A wrong second step: counted (outside any transaction), audited, and answered with the page's message. */
  private async failed(user: User, actor: Actor, method: string, reason: string, message: string): Promise<never> {
    await this.throttle.secondStepFailed(user.id);
    await recordAudit(this.db, this.clock.now(), actor, { type: 'two_step.failed', userId: user.id, email: user.email, detail: { method, reason } });
    throw new UserError(message, 401);
  }
}
