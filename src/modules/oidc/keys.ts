// The provider's signing keys: generated at first start, kept in the database sealed with the installation
// secret, rotated by `latchkey keys rotate`. Only this file sees private keys in the clear.
//
// Rotation across instances: a new key is published at once, but the key it replaces keeps signing for
// PUBLISH_LEAD_MS more, longer than the interval at which every running instance reloads its keys. So no
// instance signs with a key that another instance does not publish yet. A retired key stays published until
// every token it can have signed has expired.
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId, type SecretBox } from '../../infra/crypto.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { insertKey, listPublishedKeys, retireCurrentKeys, type OidcKeyRow } from './oidc.repo.ts';

/** Running instances look for new or retired keys this often. */
export const KEY_RELOAD_MS = 60_000;
/** A rotated-out key keeps signing this long after the new key is published. */
export const PUBLISH_LEAD_MS = 2 * KEY_RELOAD_MS;

export interface KeySet {
  /** Private JWKs for the provider, the one that signs first; the rest are only published. */
  keys: JWK[];
  /** The kid of the key that signs, and every kid, to tell whether anything changed. */
  signingKid: string;
  fingerprint: string;
}

export class SigningKeys {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    /** The longest lifetime of anything a key signs (or that an ID token may be shown back as id_token_hint), in seconds. */
    private readonly longestTokenSeconds: number,
  ) {}

  /** The keys to publish and sign with; makes the first key if there is none. */
  async load(): Promise<KeySet> {
    let rows = await listPublishedKeys(this.db, this.clock.now());
    if (!rows.some((row) => this.signs(row))) {
      // First start (or every key expired): one new key. Instances starting together may each make one;
      // all of them are published, and all instances choose the same one to sign with (the oldest current).
      await insertKey(this.db, await this.newKeyRow());
      rows = await listPublishedKeys(this.db, this.clock.now());
    }
    return this.keySetOf(rows);
  }

  /** Adds a new current key; the old one stops signing after PUBLISH_LEAD_MS and stays published until its tokens expired. */
  async rotate(actor: Actor): Promise<{ kid: string; retired: string[] }> {
    const row = await this.newKeyRow();
    const now = this.clock.now();
    const retiredAt = now + PUBLISH_LEAD_MS;
    return this.db.transaction().execute(async (trx) => {
      const retired = await retireCurrentKeys(trx, retiredAt, retiredAt + this.longestTokenSeconds * 1000);
      await insertKey(trx, row);
      await recordAudit(trx, now, actor, {
        type: 'oidc.key_rotated',
        detail: { kid: row.id, retired, signsFrom: new Date(retiredAt).toISOString() },
      });
      return { kid: row.id, retired };
    });
  }

  private signs(row: OidcKeyRow): boolean {
    return row.retired_at === null || row.retired_at > this.clock.now();
  }

  private keySetOf(rows: OidcKeyRow[]): KeySet {
    // Rows come oldest first: the oldest key that still signs is the signer.
    const signer = rows.find((row) => this.signs(row))!;
    const ordered = [signer, ...rows.filter((row) => row !== signer)];
    const keys = ordered.map((row) => {
      const opened = this.box.open(row.sealed_jwk);
      if (opened === null) throw new Error(`OpenID Connect signing key ${row.id} cannot be opened with this installation secret (LATCHKEY_SECRET changed?)`);
      return JSON.parse(opened) as JWK;
    });
    return { keys, signingKid: signer.id, fingerprint: ordered.map((row) => row.id).join(',') };
  }

  private async newKeyRow(): Promise<OidcKeyRow> {
    const kid = newId();
    // RS256: the one algorithm every relying party supports (and the provider's default for ID tokens).
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
    return { id: kid, sealed_jwk: this.box.seal(JSON.stringify(jwk)), created_at: this.clock.now(), retired_at: null, expires_at: null };
  }
}
