// Two-step verification: authenticator apps, passkeys and recovery codes — set up, used at sign-in (the session starts
// only then), throttled, audited, and removed by an administrator when a person has lost every way in; and logging in
// with a passkey alone, for the passkeys their owner chose that for.
import { randomBytes } from 'node:crypto';
import type { Db, Executor } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { hashToken, type SecretBox } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import type { TwoStepRequired } from '../../config.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Throttle } from '../throttle/throttle.ts';
import { findUserById, recordLogin, type User } from '../users/users.repo.ts';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { newId } from '../../infra/crypto.ts';
import { authenticatorUri, matchingStep, newAuthenticatorSecret, qrCodeSvg } from './totp.ts';
import {
  claimChallenge,
  claimRecoveryCode,
  claimStep,
  deletePasskey,
  deleteRecoveryCodes,
  findAuthenticator,
  findPasskeyByCredential,
  insertPasskey,
  passkeysOf,
  passkeyUsed,
  removeTwoStep,
  replaceRecoveryCodes,
  saveAuthenticator,
  unusedRecoveryCodes,
  type Passkey,
} from './twostep.repo.ts';
import {
  amrOfPasskey,
  authenticationOptions,
  registrationOptions,
  verifiedAuthentication,
  verifiedRegistration,
  type NewPasskey,
  type RelyingParty,
} from './webauthn.ts';

// Functions: each message is read in the language of the request that fails.
export const WRONG_CODE = () => t('twostep.errors.wrongCode');
export const WRONG_RECOVERY_CODE = () => t('twostep.errors.wrongRecoveryCode');
export const SECOND_STEP_PAUSED = () => t('twostep.errors.secondStepPaused');
export const SETUP_CODE_WRONG = () => t('twostep.errors.setupCodeWrong');
export const PASSKEY_NOT_VERIFIED = () => t('twostep.errors.passkeyNotVerified');
export const PASSKEY_NOT_CREATED = () => t('twostep.errors.passkeyNotCreated');
export const PASSKEY_NO_ANSWER = () => t('twostep.errors.passkeyNoAnswer');
export const PASSKEY_NAME_NEEDED = () => t('twostep.errors.passkeyNameNeeded');
export const PASSKEY_ALREADY_ADDED = () => t('twostep.errors.passkeyAlreadyAdded');
export const PASSKEY_SIGN_IN_FAILED = () => t('twostep.errors.passkeySignInFailed');
export const PASSKEY_SIGN_IN_PAUSED = () => t('twostep.errors.passkeySignInPaused');
const PASSKEY_NAME_MAX = 60;

export const RECOVERY_CODE_COUNT = 10;
// Base32's letters and digits (no 0, 1, 8 or 9, easily misread): 10 of them carry 50 random bits.
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** What a user must do after the first step: nothing more, pass the second step, or set one up first. */
export type SecondStep = 'none' | 'verify' | 'setup';

/** A user's methods as /account and the console show them. */
export interface TwoStepMethods {
  authenticator: { createdAt: number; lastUsedAt: number | null } | null;
  passkeys: Array<{ id: string; name: string; createdAt: number; lastUsedAt: number | null; passwordless: boolean }>;
  recoveryCodesLeft: number;
}

/** Whether a user's two-step verification is on: an app or at least one passkey. */
export function twoStepOn(methods: Pick<TwoStepMethods, 'authenticator' | 'passkeys'>): boolean {
  return methods.authenticator !== null || methods.passkeys.length > 0;
}

/** A challenge sent to a browser, as it came back sealed in its cookie. */
export interface PasskeyChallenge {
  value: string;
  expiresAt: number;
}

/** How the second step was passed, as login.succeeded and two_step.used record it. */
type SecondStepMethod = 'authenticator' | 'recovery code' | 'passkey';

export interface TwoStepSettings {
  required: TwoStepRequired;
  /** The name authenticator apps show beside the account. */
  issuer: string;
  /** Where passkeys belong: the site of LATCHKEY_BASE_URL. */
  relyingParty: RelyingParty;
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
    if (await this.hasMethod(db, user.id)) return 'verify';
    return this.required(user) ? 'setup' : 'none';
  }

  async methodsOf(userId: string): Promise<TwoStepMethods> {
    const authenticator = await findAuthenticator(this.db, userId);
    const passkeys = await passkeysOf(this.db, userId);
    return {
      authenticator: authenticator ? { createdAt: authenticator.created_at, lastUsedAt: authenticator.last_used_at } : null,
      passkeys: passkeys.map((p) => ({ id: p.id, name: p.name, createdAt: p.created_at, lastUsedAt: p.last_used_at, passwordless: p.passwordless === 1 })),
      recoveryCodesLeft: authenticator || passkeys.length > 0 ? await unusedRecoveryCodes(this.db, userId) : 0,
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
      if (!(await this.hasMethod(trx, user.id))) throw new UserError(t('twostep.errors.setUpFirst'), 409);
      return this.newRecoveryCodes(trx, user, actor);
    });
  }

  /** The second step with the authenticator app's code; the session starts only when it is right and unused. */
  async signInWithCode(user: User, typed: string, actor: Actor, options: SignInOptions): Promise<SignedIn> {
    await this.refuseWhilePaused(user, actor);
    const authenticator = await findAuthenticator(this.db, user.id);
    const secret = authenticator ? this.box.open(authenticator.secret_sealed) : null;
    const step = secret === null ? null : matchingStep(secret, typed, this.clock.now());
    if (step === null) return this.failed(user, actor, 'authenticator', 'wrong code', WRONG_CODE());
    const started = await this.db.transaction().execute(async (trx) => {
      // A code is good for one sign-in: its time step (and every earlier one) is used up.
      if (!(await claimStep(trx, user.id, step, this.clock.now()))) return null;
      return this.startSession(trx, user, actor, options, 'authenticator');
    });
    return started ?? this.failed(user, actor, 'authenticator', 'code already used', WRONG_CODE());
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
    return started ?? this.failed(user, actor, 'recovery code', 'wrong or used recovery code', WRONG_RECOVERY_CODE());
  }

  /** Options for the browser to create a passkey for this user (the pages seal the challenge in its cookie). */
  async passkeyRegistrationOptions(user: User, passwordless: boolean): Promise<PublicKeyCredentialCreationOptionsJSON> {
    return registrationOptions(this.settings.relyingParty, user, await passkeysOf(this.db, user.id), passwordless);
  }

  /** Options for the second step with one of the user's passkeys. */
  async passkeySecondStepOptions(user: User): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return authenticationOptions(this.settings.relyingParty, await passkeysOf(this.db, user.id));
  }

  /** Options for logging in with a passkey alone: any discoverable passkey of this site, chosen in the browser. */
  passkeySignInOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return authenticationOptions(this.settings.relyingParty, 'discoverable');
  }

  /**
   * "Add a Passkey": the browser's new passkey, checked and saved under its name. The first method of a user turns
   * two-step verification on, and brings recovery codes (returned, shown once); otherwise null.
   */
  async addPasskey(
    user: User,
    typedName: string,
    response: RegistrationResponseJSON | null,
    challenge: PasskeyChallenge,
    passwordless: boolean,
    actor: Actor,
  ): Promise<string[] | null> {
    const created = await this.checkNewPasskey(typedName, response, challenge, passwordless);
    return this.db.transaction().execute(async (trx) => (await this.savePasskey(trx, user, created, challenge, passwordless, actor)).codes);
  }

  /** The settings required a method and the user had none: a passkey added at sign-in, and the session starts. */
  async addPasskeyAndSignIn(
    user: User,
    typedName: string,
    response: RegistrationResponseJSON | null,
    challenge: PasskeyChallenge,
    actor: Actor,
    options: SignInOptions,
  ): Promise<SignedIn & { codes: string[] | null }> {
    const created = await this.checkNewPasskey(typedName, response, challenge, false);
    return this.db.transaction().execute(async (trx) => {
      const { passkey, codes } = await this.savePasskey(trx, user, created, challenge, false, actor);
      return { codes, ...(await this.startSession(trx, user, actor, options, 'passkey', passkey)) };
    });
  }

  /** A new passkey's name and the browser's answer, checked before anything is written. */
  private async checkNewPasskey(typedName: string, response: RegistrationResponseJSON | null, challenge: PasskeyChallenge, passwordless: boolean) {
    const name = typedName.trim();
    if (name.length === 0 || name.length > PASSKEY_NAME_MAX) throw new UserError(PASSKEY_NAME_NEEDED(), 400);
    const created = response && challenge.expiresAt > this.clock.now() ? await verifiedRegistration(this.settings.relyingParty, response, challenge.value, passwordless) : null;
    if (!created) throw new UserError(PASSKEY_NOT_CREATED(), 400);
    return { ...created, name };
  }

  /** Saves a checked passkey, its challenge used up; with the recovery codes when it is the user's first method. */
  private async savePasskey(
    trx: Executor,
    user: User,
    created: NewPasskey & { name: string },
    challenge: PasskeyChallenge,
    passwordless: boolean,
    actor: Actor,
  ): Promise<{ passkey: Passkey; codes: string[] | null }> {
    const now = this.clock.now();
    if (!(await claimChallenge(trx, hashToken(challenge.value), challenge.expiresAt, now))) throw new UserError(PASSKEY_NOT_CREATED(), 400);
    if (await findPasskeyByCredential(trx, created.credentialId)) throw new UserError(PASSKEY_ALREADY_ADDED(), 409);
    const first = !(await this.hasMethod(trx, user.id));
    const passkey: Passkey = {
      id: newId(),
      user_id: user.id,
      credential_id: created.credentialId,
      public_key: created.publicKey,
      counter: created.counter,
      transports: created.transports,
      name: created.name,
      passwordless: passwordless ? 1 : 0,
      backed_up: created.backedUp ? 1 : 0,
      created_at: now,
      last_used_at: null,
    };
    await insertPasskey(trx, passkey);
    await recordAudit(trx, now, actor, { type: 'two_step.enabled', userId: user.id, email: user.email, detail: { method: 'passkey', name: created.name, passwordless } });
    return { passkey, codes: first ? await this.newRecoveryCodes(trx, user, actor) : null };
  }

  /** "Remove" beside a passkey on /account; the last method going turns two-step verification off, recovery codes too. */
  async removePasskey(user: User, passkeyId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const removed = await deletePasskey(trx, user.id, passkeyId);
      if (!removed) throw new UserError(t('twostep.errors.passkeyNotYours'), 404);
      const twoStepOff = !(await this.hasMethod(trx, user.id));
      if (twoStepOff) await deleteRecoveryCodes(trx, user.id);
      await recordAudit(trx, this.clock.now(), actor, { type: 'two_step.passkey_removed', userId: user.id, email: user.email, detail: { name: removed.name, twoStepOff } });
    });
  }

  /** The second step with one of the user's passkeys; the session starts only when the browser's answer holds. */
  async signInWithPasskey(user: User, response: AuthenticationResponseJSON, challenge: PasskeyChallenge, actor: Actor, options: SignInOptions): Promise<SignedIn> {
    await this.refuseWhilePaused(user, actor);
    const passkey = await findPasskeyByCredential(this.db, response.id);
    if (!passkey || passkey.user_id !== user.id) return this.failed(user, actor, 'passkey', 'unknown passkey', PASSKEY_NOT_VERIFIED());
    const used = challenge.expiresAt > this.clock.now() ? await verifiedAuthentication(this.settings.relyingParty, response, challenge.value, passkey, false) : null;
    if (!used) return this.failed(user, actor, 'passkey', 'not verified', PASSKEY_NOT_VERIFIED());
    const started = await this.db.transaction().execute(async (trx) => {
      if (!(await claimChallenge(trx, hashToken(challenge.value), challenge.expiresAt, this.clock.now()))) return null;
      await passkeyUsed(trx, passkey.id, used.counter, this.clock.now());
      return this.startSession(trx, user, actor, options, 'passkey', passkey);
    });
    return started ?? this.failed(user, actor, 'passkey', 'challenge already answered', PASSKEY_NOT_VERIFIED());
  }

  /**
   * Logging in with a passkey alone (one its owner set up for that, which verified the person): the session starts
   * with no password. Failures are counted per network address, like wrong passwords.
   */
  async signInWithPasskeyAlone(
    response: AuthenticationResponseJSON,
    challenge: PasskeyChallenge,
    actor: Actor,
    options: { remembered: boolean },
  ): Promise<{ user: User } & SignedIn> {
    const ip = actor.ip ?? '';
    if (await this.throttle.passkeySignInPaused(ip)) {
      await recordAudit(this.db, this.clock.now(), actor, { type: 'login.throttled', detail: { via: 'passkey' } });
      throw new UserError(PASSKEY_SIGN_IN_PAUSED(), 429);
    }
    const passkey = await findPasskeyByCredential(this.db, response.id);
    const owner = passkey ? await findUserById(this.db, passkey.user_id) : undefined;
    const refuse = async (reason: string): Promise<never> => {
      await this.throttle.passkeySignInFailed(ip);
      await recordAudit(this.db, this.clock.now(), actor, { type: 'login.failed', userId: owner?.id ?? null, email: owner?.email ?? null, detail: { via: 'passkey', reason } });
      throw new UserError(PASSKEY_SIGN_IN_FAILED(), 401);
    };
    if (!passkey || !owner) return refuse('unknown passkey');
    if (owner.status !== 'active') return refuse('archived');
    if (passkey.passwordless !== 1) return refuse('passkey not set up for logging in without a password');
    // The user handle, when the browser sends one, names the same account as the passkey does.
    const handle = response.response.userHandle;
    if (handle !== undefined && handle !== Buffer.from(owner.id).toString('base64url')) return refuse('not verified');
    const used = challenge.expiresAt > this.clock.now() ? await verifiedAuthentication(this.settings.relyingParty, response, challenge.value, passkey, true) : null;
    if (!used) return refuse('not verified');
    const started = await this.db.transaction().execute(async (trx) => {
      const now = this.clock.now();
      if (!(await claimChallenge(trx, hashToken(challenge.value), challenge.expiresAt, now))) return null;
      await passkeyUsed(trx, passkey.id, used.counter, now);
      await recordLogin(trx, owner.id, now);
      const session = await this.sessions.start(trx, owner.id, actor, { remembered: options.remembered, amr: [amrOfPasskey(passkey)] });
      await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: owner.id, email: owner.email, detail: { via: 'passkey', passkey: passkey.name } });
      return session;
    });
    if (!started) return refuse('challenge already answered');
    return { user: owner, ...started };
  }

  /**
   * An administrator's "Remove Two-Step Verification": the app, the passkeys and the recovery codes go, every session of the
   * user ends (applications' sign-ins too), and the user is told by mail — in one transaction.
   */
  async removeByAdministrator(user: User, actor: Actor, by: 'administrator' | 'command line' = 'administrator'): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (!(await removeTwoStep(trx, user.id))) throw new UserError(t('twostep.errors.nothingToRemove', { email: user.email }), 409);
      const now = this.clock.now();
      const ended = await this.sessions.endAll(trx, user.id, undefined, actor);
      await recordAudit(trx, now, actor, { type: 'two_step.removed', userId: user.id, email: user.email, detail: { by, sessionsEnded: ended } });
      await this.outbox.enqueue(trx, actor, { to: user.email, userId: user.id, mail: { template: 'two_step_removed', params: { name: user.name, removedAt: now } } });
    });
  }

  private async enableIn(trx: Executor, user: User, secret: string, code: string, actor: Actor): Promise<string[]> {
    const now = this.clock.now();
    const step = matchingStep(secret, code, now);
    if (step === null) throw new UserError(SETUP_CODE_WRONG(), 400);
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

  private async hasMethod(db: Executor, userId: string): Promise<boolean> {
    return (await findAuthenticator(db, userId)) !== undefined || (await passkeysOf(db, userId)).length > 0;
  }

  private async startSession(trx: Executor, user: User, actor: Actor, options: SignInOptions, method: SecondStepMethod, passkey?: Passkey): Promise<SignedIn> {
    const now = this.clock.now();
    await recordLogin(trx, user.id, now);
    // RFC 8176: the password (or the new one after a reset link), then a one-time code or a key.
    const amr = ['pwd', passkey ? amrOfPasskey(passkey) : 'otp', 'mfa'];
    const started = await this.sessions.start(trx, user.id, actor, { remembered: options.remembered, amr });
    const detail = passkey ? { method, passkey: passkey.name } : { method };
    await recordAudit(trx, now, actor, { type: 'two_step.used', userId: user.id, email: user.email, detail });
    await recordAudit(trx, now, actor, { type: 'login.succeeded', userId: user.id, email: user.email, detail: { via: options.via, secondStep: method } });
    return started;
  }

  private async refuseWhilePaused(user: User, actor: Actor): Promise<void> {
    if (!(await this.throttle.secondStepPaused(user.id))) return;
    await recordAudit(this.db, this.clock.now(), actor, { type: 'login.throttled', userId: user.id, email: user.email, detail: { step: 'second' } });
    throw new UserError(SECOND_STEP_PAUSED(), 429);
  }

  /** A wrong second step: counted (outside any transaction), audited, and answered with the page's message. */
  private async failed(user: User, actor: Actor, method: string, reason: string, message: string): Promise<never> {
    await this.throttle.secondStepFailed(user.id);
    await recordAudit(this.db, this.clock.now(), actor, { type: 'two_step.failed', userId: user.id, email: user.email, detail: { method, reason } });
    throw new UserError(message, 401);
  }
}
