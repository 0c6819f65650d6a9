// SQL for two-step verification: the only code that reads or writes the authenticator and recovery-code tables.
import type { Executor, TwoStepAuthenticatorsTable } from '../../infra/db.ts';

export type Authenticator = TwoStepAuthenticatorsTable;

export function findAuthenticator(db: Executor, userId: string): Promise<Authenticator | undefined> {
  return db.selectFrom('two_step_authenticators').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

/** A new authenticator replaces the user's earlier one. */
export async function saveAuthenticator(db: Executor, authenticator: Authenticator): Promise<void> {
  await db.deleteFrom('two_step_authenticators').where('user_id', '=', authenticator.user_id).execute();
  await db.insertInto('two_step_authenticators').values(authenticator).execute();
}

/**
 * Records a code's time step as used, only if no later or equal step was accepted before: of two requests with
 * the same code, one changes the row and the other finds nothing to change. True when this one took it.
 */
export async function claimStep(db: Executor, userId: string, step: number, now: number): Promise<boolean> {
  const result = await db
    .updateTable('two_step_authenticators')
    .set({ last_used_step: step, last_used_at: now })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The user's recovery codes are replaced by these (hashes). */
export async function replaceRecoveryCodes(db: Executor, userId: string, hashes: string[], now: number): Promise<void> {
  await db.deleteFrom('two_step_recovery_codes').where('user_id', '=', userId).execute();
  await db
    .insertInto('two_step_recovery_codes')
    .values(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: now, used_at: null })))
    .execute();
}

/** Uses up an unused recovery code; true when this call used it (a second use finds it used). */
export async function claimRecoveryCode(db: Executor, userId: string, codeHash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('two_step_recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function unusedRecoveryCodes(db: Executor, userId: string): Promise<number> {
  const row = await db
    .selectFrom('two_step_recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Removes every method and code of the user; true when there was an authenticator. */
export async function removeTwoStep(db: Executor, userId: string): Promise<boolean> {
  await db.deleteFrom('two_step_recovery_codes').where('user_id', '=', userId).execute();
  const result = await db.deleteFrom('two_step_authenticators').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The ids of users with two-step verification, as a set for the users list's filter (read from the primary key). */
export function usersWithTwoStep(db: Executor) {
  return db.selectFrom('two_step_authenticators').select('two_step_authenticators.user_id');
}
