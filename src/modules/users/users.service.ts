// The user directory's rules: who may exist, with which email, name and role.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { hashPassword } from '../passwords/hashing.ts';
import type { PasswordPolicy } from '../passwords/policy.ts';
import { normalizeEmail, normalizeName } from './identity.ts';
import { findUserByEmail, insertUser, searchUsers, type User } from './users.repo.ts';

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

  search(search: string | undefined, limit = 200): Promise<User[]> {
    return searchUsers(this.db, { search: search?.trim() || undefined, limit });
  }
}
