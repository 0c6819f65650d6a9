// The user directory's rules: who may exist, with which email, name and role.
import type { Db, Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { forgetSealedTokens } from '../mail/outbox.ts';
import { hashPassword } from '../passwords/hashing.ts';
import type { PasswordPolicy } from '../passwords/policy.ts';
import { normalizeEmail, normalizeName } from './identity.ts';
import { findUserByEmail, findUserById, insertUser, listUsers, searchKeyOf, type User } from './users.repo.ts';

export interface NewUser {
  email: string;
  name: string;
  password?: string | null;
  role: 'user' | 'admin';
}

export const EMAIL_TAKEN = 'This email is already used by another user';

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === '23505';
}

export class UserDirectory {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly policy: PasswordPolicy,
  ) {}

  async create(input: NewUser, actor: Actor): Promise<User> {
    const email = normalizeEmail(input.email);
    const name = normalizeName(input.name);
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
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await insertUser(trx, user);
        await recordAudit(trx, now, actor, { type: 'user.created', userId: user.id, email, detail: { role: user.role } });
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

  /** Changes name, email or role. A new email voids the user's outstanding reset links. */
  async update(userId: string, input: { email: string; name: string; role: 'user' | 'admin' }, actor: Actor): Promise<User> {
    const email = normalizeEmail(input.email);
    const name = normalizeName(input.name);
    const now = this.clock.now();
    try {
      return await this.db.transaction().execute(async (trx) => {
        const user = await this.existing(trx, userId);
        if (user.id === actor.userId && user.role === 'admin' && input.role !== 'admin') {
          throw new UserError('You cannot remove the Administrator role from your own account.', 409);
        }
        const changes: Record<string, { from: string; to: string }> = {};
        if (user.email !== email) changes.email = { from: user.email, to: email };
        if (user.name !== name) changes.name = { from: user.name, to: name };
        if (user.role !== input.role) changes.role = { from: user.role, to: input.role };
        if (Object.keys(changes).length === 0) return user;
        await trx
          .updateTable('users')
          .set({ email, name, role: input.role, search_key: searchKeyOf(name, email) })
          .where('id', '=', user.id)
          .execute();
        if (changes.email) await this.voidResetLinks(trx, user.id, 'email_changed', now);
        await recordAudit(trx, now, actor, { type: 'user.updated', userId: user.id, email, detail: { changes } });
        return { ...user, email, name, role: input.role, search_key: searchKeyOf(name, email) };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UserError(`${EMAIL_TAKEN}.`, 409, { email: `${EMAIL_TAKEN}.` });
      throw error;
    }
  }

  /** An archived user cannot log in or reset a password: sessions end and reset links are voided. */
  async archive(userId: string, actor: Actor): Promise<User> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const user = await this.existing(trx, userId);
      if (user.id === actor.userId) throw new UserError('You cannot archive your own account.', 409);
      if (user.status === 'archived') return user;
      await trx.updateTable('users').set({ status: 'archived' }).where('id', '=', user.id).execute();
      await this.voidResetLinks(trx, user.id, 'archived', now);
      const ended = await trx.deleteFrom('sessions').where('user_id', '=', user.id).executeTakeFirst();
      await recordAudit(trx, now, actor, { type: 'user.archived', userId: user.id, email: user.email, detail: { sessionsEnded: Number(ended.numDeletedRows) } });
      return { ...user, status: 'archived' };
    });
  }

  async restore(userId: string, actor: Actor): Promise<User> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const user = await this.existing(trx, userId);
      if (user.status === 'active') return user;
      await trx.updateTable('users').set({ status: 'active' }).where('id', '=', user.id).execute();
      await recordAudit(trx, now, actor, { type: 'user.restored', userId: user.id, email: user.email });
      return { ...user, status: 'active' };
    });
  }

  private async existing(trx: Tx, userId: string): Promise<User> {
    const user = await findUserById(trx, userId);
    if (!user) throw new UserError('This user does not exist.', 404);
    return user;
  }

  private async voidResetLinks(trx: Tx, userId: string, reason: 'email_changed' | 'archived', now: number): Promise<void> {
    await forgetSealedTokens(trx, userId);
    await trx
      .updateTable('reset_links')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async search(search: string | undefined, limit = 200): Promise<User[]> {
    const { rows } = await listUsers(this.db, { search: search?.trim() || undefined, limit }, this.clock.now());
    return rows;
  }
}
