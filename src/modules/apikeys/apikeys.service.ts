// API keys: created and revoked by administrators, shown once, kept as a hash; what a key may do (its scopes).
import type { Clock } from '../../infra/clock.ts';
import { hashToken, newId, randomToken } from '../../infra/crypto.ts';
import type { Db } from '../../infra/db.ts';
import { UserError } from '../../infra/errors.ts';
import { GroupCommit } from '../../infra/group-commit.ts';
import { recordAudit, recordAuditsOf, type Actor, type AuditEntry } from '../audit/audit.ts';
import {
  findApiKey,
  findApiKeyByHash,
  deleteIdempotentAnswer,
  findIdempotentAnswer,
  insertApiKey,
  insertIdempotentAnswer,
  updateIdempotentAnswer,
  listApiKeys,
  revokeApiKey,
  touchApiKey,
  type ApiKeyRow,
} from './apikeys.repo.ts';

export const API_SCOPES = ['users:read', 'users:write', 'resets:send', 'audit:read', 'mail:read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** What each scope allows, in the words the console and the documentation use. */
export const SCOPE_DESCRIPTIONS: Record<ApiScope, string> = {
  'users:read': 'List, search and read users',
  'users:write': 'Create, update, archive and restore users; end their sessions',
  'resets:send': 'Send password reset instructions and create reset links',
  'audit:read': 'Read the audit log',
  'mail:read': 'Read the mail queue',
};

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiScope[];
  createdAt: number;
  createdBy: string | null;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export type KeyState = 'active' | 'expired' | 'revoked';

// "lk_" then 32 random bytes in base64url: 43 characters. Anything else is not a key Latchkey made.
const KEY_FORMAT = /^lk_[A-Za-z0-9_-]{43}$/;
/** last_used_at is written at most this often per key: a busy key costs no write per request. */
const TOUCH_EVERY_MS = 60_000;
/** Answers kept for Idempotency-Key retries. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

function keyOf(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: (JSON.parse(row.scopes) as string[]).filter((s): s is ApiScope => (API_SCOPES as readonly string[]).includes(s)),
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export interface NewApiKey {
  name: string;
  scopes: string[];
  /** Milliseconds since the epoch; null: never. */
  expiresAt: number | null;
}

export class ApiKeys {
  private readonly touched = new Map<string, number>();
  /** Every use is audited; uses that arrive together are written together. */
  private readonly uses = new GroupCommit<{ at: number; actor: Actor; entry: AuditEntry }>((events) => recordAuditsOf(this.db, events), 200);

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  stateOf(key: ApiKey, now = this.clock.now()): KeyState {
    if (key.revokedAt !== null) return 'revoked';
    if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
    return 'active';
  }

  /** A new key; the key itself is returned this once and never again. */
  async create(input: NewApiKey, actor: Actor): Promise<{ key: ApiKey; secret: string }> {
    const name = input.name.trim();
    const fields: Record<string, string> = {};
    if (name === '' || name.length > 100) fields.name = 'Give the key a name of 1 to 100 characters.';
    const scopes = [...new Set(input.scopes)];
    const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0) fields.scopes = 'Choose at least one scope.';
    else if (unknown.length > 0) fields.scopes = `Unknown scope: ${unknown.join(', ')}. Scopes are ${API_SCOPES.join(', ')}.`;
    const now = this.clock.now();
    if (input.expiresAt !== null && (!Number.isFinite(input.expiresAt) || input.expiresAt <= now)) fields.expires = 'The expiry must be in the future.';
    if (Object.keys(fields).length > 0) throw new UserError(Object.values(fields)[0]!, 400, fields);
    const secret = `lk_${randomToken(32)}`;
    const row: ApiKeyRow = {
      id: newId(),
      name,
      prefix: secret.slice(0, 11),
      key_hash: hashToken(secret),
      scopes: JSON.stringify(scopes),
      created_at: now,
      created_by: actor.userId ?? null,
      expires_at: input.expiresAt,
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await insertApiKey(trx, row);
      await recordAudit(trx, now, actor, { type: 'api_key.created', detail: { key: row.id, name, prefix: row.prefix, scopes, expiresAt: input.expiresAt } });
    });
    return { key: keyOf(row), secret };
  }

  async list(): Promise<ApiKey[]> {
    return (await listApiKeys(this.db)).map(keyOf);
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const row = await findApiKey(this.db, id);
    return row ? keyOf(row) : undefined;
  }

  async revoke(id: string, actor: Actor): Promise<ApiKey> {
    return this.db.transaction().execute(async (trx) => {
      const row = await findApiKey(trx, id);
      if (!row) throw new UserError('There is no such API key.', 404);
      const now = this.clock.now();
      if (!(await revokeApiKey(trx, id, now))) throw new UserError(`The key "${row.name}" was already revoked.`, 409);
      await recordAudit(trx, now, actor, { type: 'api_key.revoked', detail: { key: id, name: row.name, prefix: row.prefix } });
      return keyOf({ ...row, revoked_at: now });
    });
  }

  /** The key a bearer token stands for, if it is one and still usable; null otherwise (the caller says why not). */
  async authenticate(secret: string): Promise<{ key: ApiKey; state: KeyState } | null> {
    if (!KEY_FORMAT.test(secret)) return null;
    const row = await findApiKeyByHash(this.db, hashToken(secret));
    if (!row) return null;
    const key = keyOf(row);
    const now = this.clock.now();
    const state = this.stateOf(key, now);
    if (state === 'active' && now - (this.touched.get(key.id) ?? key.lastUsedAt ?? 0) >= TOUCH_EVERY_MS) {
      this.touched.set(key.id, now);
      await touchApiKey(this.db, key.id, now);
    }
    return { key, state };
  }

  /** Records one use of a key (method, route, answer) in the audit log. */
  recordUse(key: ApiKey, actor: Actor, use: { method: string; route: string; status: number }): Promise<void> {
    return this.uses.add({ at: this.clock.now(), actor, entry: { type: 'api_key.used', detail: { key: key.id, name: key.name, ...use } } });
  }

  /**
   * Reserves an Idempotency-Key for a request of this key: 'go' (do the work, then finish() or release()), the
   * answer kept from an earlier request ('replay'), 'mismatch' when the key was used for a different request,
   * 'under-way' while that earlier request has not answered yet.
   */
  async reserve(keyId: string, idempotencyKey: string, requestHash: string): Promise<
    { kind: 'go' } | { kind: 'replay'; status: number; body: string } | { kind: 'mismatch' } | { kind: 'under-way' }
  > {
    const now = this.clock.now();
    for (let tries = 0; tries < 2; tries++) {
      if (await insertIdempotentAnswer(this.db, { key_id: keyId, idempotency_key: idempotencyKey, request_hash: requestHash, status: 0, body: '', created_at: now })) return { kind: 'go' };
      const kept = await findIdempotentAnswer(this.db, keyId, idempotencyKey);
      if (!kept) continue;
      if (kept.created_at < now - IDEMPOTENCY_TTL_MS) {
        // Older than a day: forgotten, the key may be used again.
        await deleteIdempotentAnswer(this.db, keyId, idempotencyKey);
        continue;
      }
      if (kept.request_hash !== requestHash) return { kind: 'mismatch' };
      return kept.status === 0 ? { kind: 'under-way' } : { kind: 'replay', status: kept.status, body: kept.body };
    }
    return { kind: 'under-way' };
  }

  /** Keeps the answer of a reserved request for retries. */
  async finish(keyId: string, idempotencyKey: string, status: number, body: string): Promise<void> {
    await updateIdempotentAnswer(this.db, keyId, idempotencyKey, status, body);
  }

  /** Frees a reservation whose request failed without doing anything: a retry may do the work. */
  async release(keyId: string, idempotencyKey: string): Promise<void> {
    await deleteIdempotentAnswer(this.db, keyId, idempotencyKey);
  }

  /** Waits for the uses being recorded (graceful stop). */
  settled(): Promise<void> {
    return this.uses.settled();
  }
}
