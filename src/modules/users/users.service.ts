// The user directory's rules: who may exist, with which email, name and role.
import { isUniqueViolation, type Db, type Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { hashPassword } from '../passwords/hashing.ts';
import type { PasswordPolicy } from '../passwords/policy.ts';
import { voidOpenLinks } from '../recovery/reset-links.repo.ts';
import { deleteUserSessions } from '../sessions/sessions.repo.ts';
import { revokeApplicationAccess } from '../oidc/revoke.ts';
import { normalizeEmail, normalizeName } from './identity.ts';
import {
  countUsers,
  findUserByEmail,
  findUserById,
  insertUser,
  listUsers,
  lockUserById,
  markAddressUnverified,
  matchingUserIds,
  searchKeyOf,
  setUserLanguage,
  setUserStatus,
  updateUserDetails,
  type ListedUser,
  type User,
  type UserQuery,
} from './users.repo.ts';

export interface NewUser {
  email: string;
  name: string;
  password?: string | null;
  role: 'user' | 'admin';
  /** The language of the user's pages and mails; null or absent: the browser's (mails: the installation's). */
  language?: string | null;
}

/** Which languages exist: a user's choice must be one of them. */
export interface KnownLanguages {
  supports(code: string | null | undefined): code is string;
}

export const EMAIL_TAKEN = 'This email is already used by another user';

export class UserDirectory {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly policy: PasswordPolicy,
    private readonly languages: KnownLanguages,
  ) {}

  /** A language as chosen: a code we have, or null for none; anything else is refused. */
  private checkedLanguage(code: string | null): string | null {
    if (code === null || this.languages.supports(code)) return code;
    throw new UserError(t('settings.language.unknown'), 400, { language: t('settings.language.unknown') });
  }

  /** `within`: more of the same change in its transaction (the invitation of a user created without a password). */
  async create(input: NewUser, actor: Actor, within?: (trx: Tx, user: User) => Promise<void>): Promise<User> {
    const email = normalizeEmail(input.email);
    const name = normalizeName(input.name);
    const language = this.checkedLanguage(input.language ?? null);
    let passwordHash: string | null = null;
    if (input.password) {
      const broken = this.policy.check(input.password, { name, email });
      if (broken.length > 0) throw new UserError(`The password is not accepted: ${broken.join(' ')}`, 400, { password: broken.join(' ') });
      passwordHash = await hashPassword(input.password);
    }
    const now = this.clock.now();
    const user: User = {
      id: newId(),
      email,
      name,
      role: input.role,
      status: 'active',
      password_hash: passwordHash,
      created_at: now,
      last_login_at: null,
      password_changed_at: passwordHash ? now : null,
      search_key: searchKeyOf(name, email),
      email_verified_at: null,
      language,
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await insertUser(trx, user);
        await recordAudit(trx, now, actor, { type: 'user.created', userId: user.id, email, detail: language === null ? { role: user.role } : { role: user.role, language } });
        await within?.(trx, user);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UserError(`${EMAIL_TAKEN}.`, 409, { email: `${EMAIL_TAKEN}.` });
      throw error;
    }
    return user;
  }

  /** Finds a user by an address as typed; null when it is not a well-formed address or nobody has it. */
  async findByTypedEmail(typed: string): Promise<User | null> {
    let email: string;
    try {
      email = normalizeEmail(typed);
    } catch {
      return null;
    }
    return (await findUserByEmail(this.db, email)) ?? null;
  }

  /** Changes name, email, role or language (left as it is when absent). A new email voids the user's outstanding reset
   * links and is unverified until proven. */
  async update(userId: string, input: { email: string; name: string; role: 'user' | 'admin'; language?: string | null }, actor: Actor): Promise<User> {
    const email = normalizeEmail(input.email);
    const name = normalizeName(input.name);
    const language = input.language === undefined ? undefined : this.checkedLanguage(input.language);
    const now = this.clock.now();
    try {
      return await this.db.transaction().execute(async (trx) => {
        const user = await this.existing(trx, userId);
        if (user.id === actor.userId && user.role === 'admin' && input.role !== 'admin') {
          throw new UserError('You cannot remove the Administrator role from your own account.', 409);
        }
        const changes: Record<string, { from: string | null; to: string | null }> = {};
        if (user.email !== email) changes.email = { from: user.email, to: email };
        if (user.name !== name) changes.name = { from: user.name, to: name };
        if (user.role !== input.role) changes.role = { from: user.role, to: input.role };
        if (language !== undefined && user.language !== language) changes.language = { from: user.language, to: language };
        if (Object.keys(changes).length === 0) return user;
        await updateUserDetails(trx, user.id, { email, name, role: input.role });
        if (changes.language) await setUserLanguage(trx, user.id, language ?? null);
        if (changes.email) {
          await voidOpenLinks(trx, user.id, 'email_changed', now);
          await markAddressUnverified(trx, user.id);
        }
        await recordAudit(trx, now, actor, { type: 'user.updated', userId: user.id, email, detail: { changes } });
        return { ...user, email, name, role: input.role, language: language === undefined ? user.language : language, search_key: searchKeyOf(name, email), email_verified_at: changes.email ? null : user.email_verified_at };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UserError(`${EMAIL_TAKEN}.`, 409, { email: `${EMAIL_TAKEN}.` });
      throw error;
    }
  }

  /** The user's own choice of language on /account (null: the browser's), audited like any other change. */
  async setLanguage(userId: string, code: string | null, actor: Actor): Promise<User> {
    const language = this.checkedLanguage(code);
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const user = await this.existing(trx, userId);
      if (user.language === language) return user;
      await setUserLanguage(trx, user.id, language);
      await recordAudit(trx, now, actor, { type: 'user.updated', userId: user.id, email: user.email, detail: { changes: { language: { from: user.language, to: language } } } });
      return { ...user, language };
    });
  }

  /** An archived user cannot log in or reset a password: sessions end and reset links are voided. */
  async archive(userId: string, actor: Actor): Promise<User> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const user = await this.existing(trx, userId);
      if (user.id === actor.userId) throw new UserError('You cannot archive your own account.', 409);
      if (user.status === 'archived') return user;
      await setUserStatus(trx, user.id, 'archived');
      await voidOpenLinks(trx, user.id, 'archived', now);
      const ended = await deleteUserSessions(trx, user.id);
      await revokeApplicationAccess(trx, now, actor, user, 'archived');
      await recordAudit(trx, now, actor, { type: 'user.archived', userId: user.id, email: user.email, detail: { sessionsEnded: ended } });
      return { ...user, status: 'archived' };
    });
  }

  async restore(userId: string, actor: Actor): Promise<User> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const user = await this.existing(trx, userId);
      if (user.status === 'active') return user;
      await setUserStatus(trx, user.id, 'active');
      await recordAudit(trx, now, actor, { type: 'user.restored', userId: user.id, email: user.email });
      return { ...user, status: 'active' };
    });
  }

  /** The user, locked until the transaction ends (PostgreSQL): two changes to one user do not interleave. */
  private async existing(trx: Tx, userId: string): Promise<User> {
    const user = await lockUserById(trx, userId);
    if (!user) throw new UserError('This user does not exist.', 404);
    return user;
  }

  get(userId: string): Promise<User | undefined> {
    return findUserById(this.db, userId);
  }

  /** Finds a user by an address already normalized (as the audit log records it). */
  findByEmail(email: string): Promise<User | undefined> {
    return findUserByEmail(this.db, email);
  }

  count(): Promise<number> {
    return countUsers(this.db);
  }

  /** One page of the users list, with whether each user has a reset link outstanding. */
  list(query: UserQuery): Promise<{ rows: ListedUser[]; total: number }> {
    return listUsers(this.db, query, this.clock.now());
  }

  /** Ids of every user that matches, for a bulk action on "all that match the current search". */
  matchingIds(query: Omit<UserQuery, 'limit'>, cap: number): Promise<string[]> {
    return matchingUserIds(this.db, query, this.clock.now(), cap);
  }

  async search(search: string | undefined, limit = 200): Promise<User[]> {
    const { rows } = await listUsers(this.db, { search: search?.trim() || undefined, limit }, this.clock.now());
    return rows;
  }
}
