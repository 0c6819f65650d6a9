// Tokens, hashes and authenticated encryption from node:crypto; identifiers (random, or ordered by time).
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** A URL-safe secret of `bytes` random bytes from the CSPRNG (32 bytes = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A random identifier (UUID version 4): for users, whose id is the `sub` applications see, and for settings. */
export function newId(): string {
  return randomUUID();
}

/**
 * An identifier that begins with the time it was made (UUID version 7, RFC 9562), for rows written in streams:
 * reset requests and links, mails and their attempts, alerts. Rows made one after another get keys that sort one
 * after another, so every index on such a key grows at its end: a batch of new rows changes a few pages instead
 * of one random page each (with random keys, a transaction of 25 reset requests wrote 1.2 MB to SQLite's
 * write-ahead log). What it tells (when the row was made) those rows record anyway.
 */
export function newOrderedId(): string {
  return uuidv7();
}

/** SHA-256 of a high-entropy token: what is stored instead of the token itself. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** AES-256-GCM with a key derived from the installation secret; the output is self-describing text. */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secret: string, purpose: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'latchkey', purpose, 32));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
  }

  /** Returns null when the text was not sealed with this key or was altered. */
  open(sealed: string): string | null {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== 'v1' || !iv || body === undefined || !tag) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}
