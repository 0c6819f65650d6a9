// SQL for the OpenID Connect provider: its stored artifacts (sessions, grants, codes, tokens, interactions) in
// one table, the signing keys, and the applications a user revoked. The only code that reads or writes
// oidc_models, oidc_keys and oidc_revoked_applications.
import { forUpdate, type Executor } from '../../infra/db.ts';

/** One artifact of oidc-provider, by model name ("Session", "Grant", "AuthorizationCode", "RefreshToken", …) and id. */
export type OidcModelsTable = {
  model: string;
  id: string;
  /** The provider's payload, as JSON. */
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  /** A Session's uid (the provider looks sessions up by it). */
  uid: string | null;
  /** The user (accountId = users.id) it belongs to, when the provider says: to end a user's grants and tokens. */
  account_id: string | null;
  /** The application (clientId) it was issued to, when the provider says: to end an application's grants and tokens. */
  client_id: string | null;
  /** Epoch milliseconds; null: the provider gave no lifetime. */
  expires_at: number | null;
  consumed_at: number | null;
};

/** A signing key: a private JWK sealed with the installation secret. */
export type OidcKeysTable = {
  id: string;
  sealed_jwk: string;
  created_at: number;
  /** From this time on the key no longer signs; null while it is the current key. */
  retired_at: number | null;
  /** From this time on the key is no longer published: every token it signed has expired. */
  expires_at: number | null;
};

/** An application the user revoked on /account, until they next enter their password to sign in to it. */
export type OidcRevokedApplicationsTable = {
  user_id: string;
  client_id: string;
  revoked_at: number;
};

export type OidcTables = {
  oidc_models: OidcModelsTable;
  oidc_keys: OidcKeysTable;
  oidc_revoked_applications: OidcRevokedApplicationsTable;
};

export type OidcModelRow = OidcModelsTable;
export type OidcKeyRow = OidcKeysTable;

// The tables are declared here rather than in infra/db.ts: only this module uses them.
const t = (db: Executor) => db.withTables<OidcTables>();

export async function upsertModel(db: Executor, row: OidcModelRow): Promise<void> {
  const { model, id, ...rest } = row;
  await t(db)
    .insertInto('oidc_models')
    .values(row)
    .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(rest))
    .execute();
}

/** The row, unless it has expired (the provider checks its own expiry too; this only hides leftovers). */
export function findModel(db: Executor, model: string, id: string, now: number): Promise<OidcModelRow | undefined> {
  return t(db)
    .selectFrom('oidc_models')
    .selectAll()
    .where('model', '=', model)
    .where('id', '=', id)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirst();
}

export function findModelBy(db: Executor, model: string, column: 'uid' | 'user_code', value: string, now: number): Promise<OidcModelRow | undefined> {
  return t(db)
    .selectFrom('oidc_models')
    .selectAll()
    .where('model', '=', model)
    .where(column, '=', value)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirst();
}

export async function consumeModel(db: Executor, model: string, id: string, now: number): Promise<void> {
  await t(db).updateTable('oidc_models').set({ consumed_at: now }).where('model', '=', model).where('id', '=', id).execute();
}

export async function deleteModel(db: Executor, model: string, id: string): Promise<void> {
  await t(db).deleteFrom('oidc_models').where('model', '=', model).where('id', '=', id).execute();
}

/** Everything issued under one grant (codes, access and refresh tokens); returns how many rows went. */
export async function deleteByGrantId(db: Executor, grantId: string): Promise<number> {
  const result = await t(db).deleteFrom('oidc_models').where('grant_id', '=', grantId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Everything the provider holds for one user — sessions, grants, codes, tokens — so that no application keeps
 * a way in after Latchkey ended the user's sessions. Returns how many grants (applications) that ended.
 */
export async function deleteAccountArtifacts(db: Executor, accountId: string): Promise<{ grants: number; rows: number }> {
  const grantIds = t(db).selectFrom('oidc_models').select('id').where('model', '=', 'Grant').where('account_id', '=', accountId);
  const grants = await t(db).selectFrom('oidc_models').select((eb) => eb.fn.countAll<number>().as('n')).where('model', '=', 'Grant').where('account_id', '=', accountId).executeTakeFirst();
  const viaGrant = await t(db).deleteFrom('oidc_models').where('grant_id', 'in', grantIds).executeTakeFirst();
  const own = await t(db).deleteFrom('oidc_models').where('account_id', '=', accountId).executeTakeFirst();
  return { grants: Number(grants?.n ?? 0), rows: Number(viaGrant.numDeletedRows) + Number(own.numDeletedRows) };
}

/** A user's grants that have not expired: one per application and provider session that signed in to it. */
export function listGrantsOfAccount(db: Executor, accountId: string, now: number): Promise<Array<Pick<OidcModelRow, 'id' | 'payload'>>> {
  return t(db)
    .selectFrom('oidc_models')
    .select(['id', 'payload'])
    .where('model', '=', 'Grant')
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('id')
    .execute();
}

/**
 * One application's grants and everything issued to it — codes, access and refresh tokens — for one user, or
 * for every user when `accountId` is null, found by the client_id column. Returns how many grants went, whose
 * they were, and how many rows.
 */
export async function deleteClientArtifacts(db: Executor, clientId: string, accountId: string | null): Promise<{ grants: number; accounts: string[]; rows: number }> {
  const issued = t(db)
    .selectFrom('oidc_models')
    .where('client_id', '=', clientId)
    .$if(accountId !== null, (query) => query.where('account_id', '=', accountId));
  const grants = await issued.select((eb) => eb.fn.countAll<number>().as('n')).where('model', '=', 'Grant').executeTakeFirst();
  const accounts = await issued.select('account_id').distinct().where('account_id', 'is not', null).execute();
  const result = await t(db)
    .deleteFrom('oidc_models')
    .where('client_id', '=', clientId)
    .$if(accountId !== null, (query) => query.where('account_id', '=', accountId))
    .executeTakeFirst();
  return { grants: Number(grants?.n ?? 0), accounts: accounts.flatMap((row) => (row.account_id ? [row.account_id] : [])), rows: Number(result.numDeletedRows) };
}

/**
 * Unbinds an application from every provider session of a user (the session's `authorizations` entry for it:
 * its grant and sid), so that no session of the provider remembers signing the user in to it. Returns how many changed.
 */
export async function unbindClientFromSessions(db: Executor, accountId: string, clientId: string): Promise<number> {
  const sessions = await forUpdate(db, t(db).selectFrom('oidc_models').select(['id', 'payload']).where('model', '=', 'Session').where('account_id', '=', accountId)).execute();
  let changed = 0;
  for (const session of sessions) {
    const payload = JSON.parse(session.payload) as { authorizations?: Record<string, unknown> };
    if (!payload.authorizations || !Object.hasOwn(payload.authorizations, clientId)) continue;
    delete payload.authorizations[clientId];
    await t(db).updateTable('oidc_models').set({ payload: JSON.stringify(payload) }).where('model', '=', 'Session').where('id', '=', session.id).execute();
    changed += 1;
  }
  return changed;
}

/** Records that the user revoked the application (again: the latest time counts). */
export async function markApplicationRevoked(db: Executor, userId: string, clientId: string, at: number): Promise<void> {
  await t(db)
    .insertInto('oidc_revoked_applications')
    .values({ user_id: userId, client_id: clientId, revoked_at: at })
    .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ revoked_at: at }))
    .execute();
}

export async function isApplicationRevoked(db: Executor, userId: string, clientId: string): Promise<boolean> {
  const row = await t(db).selectFrom('oidc_revoked_applications').select('revoked_at').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
  return row !== undefined;
}

export async function clearApplicationRevoked(db: Executor, userId: string, clientId: string): Promise<void> {
  await t(db).deleteFrom('oidc_revoked_applications').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
}

/** Deletes up to `limit` artifacts that expired before `before` (for the retention chore); returns how many. */
export async function deleteModelsExpiredBefore(db: Executor, before: number, limit: number): Promise<number> {
  const oldest = t(db).selectFrom('oidc_models').select(['model', 'id']).where('expires_at', '<', before).orderBy('expires_at').limit(limit);
  const rows = await oldest.execute();
  let deleted = 0;
  for (const row of rows) {
    const result = await t(db).deleteFrom('oidc_models').where('model', '=', row.model).where('id', '=', row.id).where('expires_at', '<', before).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  return deleted;
}

export function listPublishedKeys(db: Executor, now: number): Promise<OidcKeyRow[]> {
  return t(db)
    .selectFrom('oidc_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function insertKey(db: Executor, row: OidcKeyRow): Promise<void> {
  await t(db).insertInto('oidc_keys').values(row).execute();
}

/** Retires every current key at `retiredAt`, published until `expiresAt`; returns their ids. */
export async function retireCurrentKeys(db: Executor, retiredAt: number, expiresAt: number): Promise<string[]> {
  const current = await t(db).selectFrom('oidc_keys').select('id').where('retired_at', 'is', null).execute();
  if (current.length === 0) return [];
  await t(db).updateTable('oidc_keys').set({ retired_at: retiredAt, expires_at: expiresAt }).where('retired_at', 'is', null).execute();
  return current.map((row) => row.id);
}
