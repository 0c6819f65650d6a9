// SQL for two-step verification: the only code that reads or writes the authenticator, recovery-code and passkey tables.
import type { Executor, PasskeysTable, TwoStepAuthenticatorsTable } from '../../infra/db.ts';

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

/** Removes every method and code of the user (the app and every passkey); true when there was a method. */
export async function removeTwoStep(db: Executor, userId: string): Promise<boolean> {
  await db.deleteFrom('two_step_recovery_codes').where('user_id', '=', userId).execute();
  const apps = await db.deleteFrom('two_step_authenticators').where('user_id', '=', userId).executeTakeFirst();
  const passkeys = await db.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst();
  return Number(apps.numDeletedRows) + Number(passkeys.numDeletedRows) > 0;
}

/**
 * The ids of users with two-step verification (an app or a passkey), as a set for the users list's filter (read
 * from the app's primary key and the passkeys' user index).
 */
export function usersWithTwoStep(db: Executor) {
  return db.selectFrom('two_step_authenticators').select('two_step_authenticators.user_id').union(db.selectFrom('passkeys').select('passkeys.user_id'));
}

export type Passkey = PasskeysTable;

export function passkeysOf(db: Executor, userId: string): Promise<Passkey[]> {
  return db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export function findPasskeyByCredential(db: Executor, credentialId: string): Promise<Passkey | undefined> {
  return db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
}

export async function insertPasskey(db: Executor, passkey: Passkey): Promise<void> {
  await db.insertInto('passkeys').values(passkey).execute();
}

/** The signature counter and the time of a passkey's use. */
export async function passkeyUsed(db: Executor, id: string, counter: number, now: number): Promise<void> {
  await db.updateTable('passkeys').set({ counter, last_used_at: now }).where('id', '=', id).execute();
}

/** Deletes one passkey of the user; the deleted row, or undefined when the user has no such passkey. */
export async function deletePasskey(db: Executor, userId: string, id: string): Promise<Passkey | undefined> {
  const found = await db.selectFrom('passkeys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  if (found) await db.deleteFrom('passkeys').where('id', '=', id).execute();
  return found;
}

export async function deleteRecoveryCodes(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('two_step_recovery_codes').where('user_id', '=', userId).execute();
}

/**
 * Records a challenge as answered (its hash, until it expires): true when this call recorded it, false when it was
 * answered before. Challenges past their expiry go at the same time.
 */
export async function claimChallenge(db: Executor, challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
  await db.deleteFrom('passkey_challenges_used').where('expires_at', '<', now).execute();
  const result = await db
    .insertInto('passkey_challenges_used')
    .values({ challenge_hash: challengeHash, expires_at: expiresAt })
    .onConflict((oc) => oc.column('challenge_hash').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}
