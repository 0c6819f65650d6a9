// oidc-provider's storage Adapter over Latchkey's database: every artifact in oidc_models (see oidc.repo.ts),
// so that several instances on one PostgreSQL database share sessions, grants, codes and tokens.
// Clients are not stored here: the "Client" model reads the Applications registry.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { consumeModel, deleteByGrantId, deleteModel, findModel, findModelBy, upsertModel } from './oidc.repo.ts';

export interface ClientSource {
  clientMetadata(clientId: string): Promise<Record<string, unknown> | undefined>;
}

/** Builds the Adapter class the provider instantiates once per model name. */
export function databaseAdapter(db: Db, clock: Clock, clients: ClientSource): new (model: string) => Adapter {
  return class DatabaseAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') throw new Error('clients are registered through Latchkey, not the provider');
      const now = clock.now();
      await upsertModel(db, {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        user_code: payload.userCode ?? null,
        uid: payload.uid ?? null,
        account_id: payload.accountId ?? null,
        client_id: payload.clientId ?? null,
        expires_at: expiresIn ? now + expiresIn * 1000 : null,
        consumed_at: null,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return (await clients.clientMetadata(id)) as AdapterPayload | undefined;
      return payloadOf(await findModel(db, this.model, id, clock.now()));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return payloadOf(await findModelBy(db, this.model, 'uid', uid, clock.now()));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return payloadOf(await findModelBy(db, this.model, 'user_code', userCode, clock.now()));
    }

    async consume(id: string): Promise<void> {
      await consumeModel(db, this.model, id, clock.now());
    }

    async destroy(id: string): Promise<void> {
      await deleteModel(db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await deleteByGrantId(db, grantId);
    }
  };
}

function payloadOf(row: { payload: string; consumed_at: number | null } | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  // The provider refuses a consumed code or rotated refresh token by this field (seconds since the epoch).
  if (row.consumed_at !== null) payload.consumed = Math.floor(row.consumed_at / 1000);
  return payload;
}
