// Every counting limit in one place, on rate-limiter-flexible: the counts live in the database, so every instance shares them.
import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterSQLite, type RateLimiterAbstract, type RateLimiterRes } from 'rate-limiter-flexible';
import { sql } from 'kysely';
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { onOneInstanceInSteps, rawClientOf, type Db } from '../../infra/db.ts';

/** The limiter's table (made by migration 0006_throttle): one row per counted key. */
export const THROTTLE_TABLE = 'throttle_counts';

export interface ThrottleSettings {
  /** Posts per minute and IP address to each limited form (login, reset request, reset link, current password); 0 turns it off. */
  formPostsPerMinute: number;
  /** Reset mails per account and IP address per hour, and four times that per account from everywhere; 0 turns it off. */
  resetMailsPerHour: number;
}

/** Where the counts live: the database (shared by every instance) or this process's memory (unit tests). */
export type ThrottleStore = { db: Db } | 'memory';

/** The forms limited per IP address; each has its own count, as each route had before. */
export type LimitedForm = 'login' | 'reset-request' | 'reset-link' | 'current-password' | 'password-check' | 'second-step';

const MINUTE = 60;
const LOGIN_WINDOW = 15 * MINUTE;
/** Failures for one address from one IP address before that pair is paused. */
const LOGIN_FAILURES_PER_ADDRESS_AND_IP = 10;
/**
 * Failures for one address from everywhere before it is paused: high enough that a stranger cannot lock
 * the owner out from one machine, low enough to stop a spread-out guessing attack.
 */
const LOGIN_FAILURES_PER_ADDRESS = 100;
/** Wrong current passwords on /account, per user, before the session ends. */
const WRONG_CURRENT_PASSWORDS = 5;
/**
 * Wrong second steps (codes from an authenticator app or recovery codes) per user before the second step is paused:
 * with three codes valid at a time, five tries in 15 minutes give a guesser who has the password about one chance in 700 a day.
 */
const SECOND_STEP_FAILURES = 5;
/** Failed logins with a passkey alone from one IP address before it is paused (no account is known beforehand). */
const PASSKEY_FAILURES_PER_IP = 10;

type Limiter = RateLimiterAbstract;

/** Expired counts deleted per statement. */
const SWEEP_BATCH = 500;

export class Throttle {
  private readonly loginPerAddress: Limiter;
  private readonly loginPerAddressAndIp: Limiter;
  private readonly resetFromHere: Limiter | null;
  private readonly resetEverywhere: Limiter | null;
  private readonly wrongCurrent: Limiter;
  private readonly secondStep: Limiter;
  private readonly passkeyFromIp: Limiter;
  private readonly forms: Limiter | null;
  private readonly sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: ThrottleStore,
    settings: ThrottleSettings,
  ) {
    this.loginPerAddress = this.limiter('login', LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW);
    this.loginPerAddressAndIp = this.limiter('login-ip', LOGIN_FAILURES_PER_ADDRESS_AND_IP, LOGIN_WINDOW);
    const perHour = settings.resetMailsPerHour;
    this.resetFromHere = perHour > 0 ? this.limiter('reset-ip', perHour, 60 * MINUTE) : null;
    this.resetEverywhere = perHour > 0 ? this.limiter('reset', perHour * 4, 60 * MINUTE) : null;
    this.wrongCurrent = this.limiter('current-password', WRONG_CURRENT_PASSWORDS, LOGIN_WINDOW);
    this.secondStep = this.limiter('second-step', SECOND_STEP_FAILURES, LOGIN_WINDOW);
    this.passkeyFromIp = this.limiter('passkey-ip', PASSKEY_FAILURES_PER_IP, LOGIN_WINDOW);
    this.forms = settings.formPostsPerMinute > 0 ? this.limiter('form', settings.formPostsPerMinute, MINUTE) : null;
    if (store !== 'memory') {
      // Expired counts are only dead rows; one instance at a time sweeps them now and then.
      const db = store.db;
      this.sweeper = setInterval(() => {
        const before = Date.now() - 3600_000;
        // In batches: a flood from many addresses leaves many rows, and SQLite has one writer.
        onOneInstanceInSteps(db, 'sweep expired throttle counts', async (conn) => {
          const table = sql.table(THROTTLE_TABLE);
          let swept: number;
          do {
            const result = await sql`delete from ${table} where key in (select key from ${table} where expire < ${before} limit ${SWEEP_BATCH})`.execute(conn);
            swept = Number(result.numAffectedRows ?? 0);
            await yieldToRequests();
          } while (swept === SWEEP_BATCH);
        }).catch(() => undefined);
      }, 5 * 60_000);
      this.sweeper.unref();
    }
  }

  /** Whether logins for this address (as typed, known or not) are paused, from this IP address or from everywhere. */
  async loginPaused(email: string, ip: string | null): Promise<boolean> {
    const [everywhere, here] = await Promise.all([this.count(this.loginPerAddress, email), this.count(this.loginPerAddressAndIp, `${email} ${ip ?? ''}`)]);
    return everywhere >= LOGIN_FAILURES_PER_ADDRESS || here >= LOGIN_FAILURES_PER_ADDRESS_AND_IP;
  }

  /** Counts a failed login. Refused attempts are not failures: they do not extend the pause. */
  async loginFailed(email: string, ip: string | null): Promise<void> {
    await Promise.all([this.add(this.loginPerAddress, email), this.add(this.loginPerAddressAndIp, `${email} ${ip ?? ''}`)]);
  }

  /**
   * Takes one self-service reset mail from the account's hourly allowance: per IP address, so a stranger
   * elsewhere cannot use up the owner's share, and a higher one from everywhere against a spread-out
   * flood. False when either is used up; a refused request takes nothing.
   */
  async takeResetMail(userId: string, ip: string | null): Promise<boolean> {
    if (!this.resetFromHere || !this.resetEverywhere) return true;
    const hereKey = `${userId} ${ip ?? ''}`;
    // Taken first and given back when over: of many simultaneous requests, no more than the limit get through.
    if ((await this.add(this.resetFromHere, hereKey)) > this.resetFromHere.points) {
      await this.giveBack(this.resetFromHere, hereKey);
      return false;
    }
    if ((await this.add(this.resetEverywhere, userId)) > this.resetEverywhere.points) {
      await Promise.all([this.giveBack(this.resetEverywhere, userId), this.giveBack(this.resetFromHere, hereKey)]);
      return false;
    }
    return true;
  }

  /** Counts a wrong current password on /account; true once there have been too many in 15 minutes. */
  async wrongCurrentPassword(userId: string): Promise<boolean> {
    return (await this.add(this.wrongCurrent, userId)) >= WRONG_CURRENT_PASSWORDS;
  }

  /** Whether the user's second step is paused after too many wrong codes, wherever they came from. */
  async secondStepPaused(userId: string): Promise<boolean> {
    return (await this.count(this.secondStep, userId)) >= SECOND_STEP_FAILURES;
  }

  /** Counts a wrong code at the second step. */
  async secondStepFailed(userId: string): Promise<void> {
    await this.add(this.secondStep, userId);
  }

  /** Whether logging in with a passkey alone is paused for this IP address after too many failures. */
  async passkeySignInPaused(ip: string): Promise<boolean> {
    return (await this.count(this.passkeyFromIp, ip)) >= PASSKEY_FAILURES_PER_IP;
  }

  /** Counts a failed login with a passkey alone from this IP address. */
  async passkeySignInFailed(ip: string): Promise<void> {
    await this.add(this.passkeyFromIp, ip);
  }

  /** Takes one post to a limited form from this IP address; the seconds to wait when over the limit, else 0. */
  async formPost(form: LimitedForm, ip: string): Promise<number> {
    if (!this.forms) return 0;
    const key = `${form} ${ip}`;
    const res = await this.exclusive(() => this.forms!.penalty(this.keyOf(key)));
    return res.consumedPoints > this.forms.points ? Math.max(1, Math.ceil(res.msBeforeNext / 1000)) : 0;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  private limiter(name: string, points: number, duration: number): Limiter {
    const options = { keyPrefix: name, points, duration };
    if (this.store === 'memory') return new RateLimiterMemory(options);
    const raw = rawClientOf(this.store.db);
    // The table comes from a migration, with the library's layout on both dialects.
    const stored = { ...options, tableName: THROTTLE_TABLE, tableCreated: true, clearExpiredByTimeout: false };
    return raw.dialect === 'sqlite'
      ? new RateLimiterSQLite({ ...stored, storeClient: raw.sqlite, storeType: 'better-sqlite3' })
      : new RateLimiterPostgres({ ...stored, storeClient: raw.pool, storeType: 'pool' });
  }

  /** The count within the current window (0 when none). */
  private async count(limiter: Limiter, key: string): Promise<number> {
    const res: RateLimiterRes | null = await this.exclusive(() => limiter.get(this.keyOf(key)));
    return res?.consumedPoints ?? 0;
  }

  /** Adds one to the count, never refusing; returns the new count. */
  private async add(limiter: Limiter, key: string): Promise<number> {
    const res = await this.exclusive(() => limiter.penalty(this.keyOf(key)));
    return res.consumedPoints;
  }

  private async giveBack(limiter: Limiter, key: string): Promise<void> {
    await this.exclusive(() => limiter.reward(this.keyOf(key)));
  }

  /** Keys are hashed: the table holds no email or IP address, and every key fits its column. */
  private keyOf(key: string): string {
    return createHash('sha256').update(key).digest('base64url');
  }

  /**
   * On SQLite the limiter writes through Kysely's one connection. Taking that connection first keeps the
   * limiter's statements out of a transaction another request has open on it (they would commit or roll
   * back with that transaction). So a throttle call must not be made inside a transaction.
   */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    if (this.store === 'memory' || rawClientOf(this.store.db).dialect !== 'sqlite') return run();
    return this.store.db.connection().execute(() => run());
  }
}
