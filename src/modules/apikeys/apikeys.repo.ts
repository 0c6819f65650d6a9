// SQL for API keys and the answers kept for idempotent retries: the only code that reads or writes their tables.
import type { ApiIdempotencyTable, ApiKeysTable, Executor } from '../../infra/db.ts';

export type ApiKeyRow = ApiKeysTable;

export async function insertApiKey(db: Executor, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

export function listApiKeys(db: Executor): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
}

export function findApiKey(db: Executor, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findApiKeyByHash(db: Executor, keyHash: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
}

export async function revokeApiKey(db: Executor, id: string, at: number): Promise<boolean> {
  const result = await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function touchApiKey(db: Executor, id: string, at: number): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

export function findIdempotentAnswer(db: Executor, keyId: string, idempotencyKey: string): Promise<ApiIdempotencyTable | undefined> {
  return db.selectFrom('api_idempotency').selectAll().where('key_id', '=', keyId).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
}

/** Reserves a key (status 0: under way); false when another request with the same key got there first. */
export async function insertIdempotentAnswer(db: Executor, row: ApiIdempotencyTable): Promise<boolean> {
  const result = await db.insertInto('api_idempotency').values(row).onConflict((oc) => oc.columns(['key_id', 'idempotency_key']).doNothing()).executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

export async function updateIdempotentAnswer(db: Executor, keyId: string, idempotencyKey: string, status: number, body: string): Promise<void> {
  await db.updateTable('api_idempotency').set({ status, body }).where('key_id', '=', keyId).where('idempotency_key', '=', idempotencyKey).execute();
}

export async function deleteIdempotentAnswer(db: Executor, keyId: string, idempotencyKey: string): Promise<void> {
  await db.deleteFrom('api_idempotency').where('key_id', '=', keyId).where('idempotency_key', '=', idempotencyKey).execute();
}

/** Up to `limit` kept answers older than `before`, oldest first (the retention cleanup, in batches). */
export async function deleteIdempotentAnswersBefore(db: Executor, before: number, limit: number): Promise<number> {
  const oldest = db
    .selectFrom('api_idempotency')
    .select(['key_id', 'idempotency_key'])
    .where('created_at', '<', before)
    .orderBy('created_at')
    .limit(limit);
  const result = await db
    .deleteFrom('api_idempotency')
    .where((eb) => eb(eb.refTuple('key_id', 'idempotency_key'), 'in', oldest.$asTuple('key_id', 'idempotency_key')))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
