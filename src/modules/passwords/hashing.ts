// Password hashing with argon2id (OWASP parameters), verification (imported formats too), and rehash detection.
import { availableParallelism } from 'node:os';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { isImportedFormat, verifyImportedHash } from './imported-hashes.ts';

/** OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1. */
export const ARGON2_PARAMS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`;

/** Unicode passwords are compared in one normal form, so the same typed password always matches. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * At most one argon2id computation per core: more would only share the cores, each holding 19 MiB, so a
 * burst of logins (or an attack) costs latency in a queue instead of memory.
 */
const slots = { free: availableParallelism(), waiting: [] as Array<() => void> };

async function withSlot<T>(work: () => Promise<T>): Promise<T> {
  if (slots.free > 0) slots.free--;
  else await new Promise<void>((resolve) => slots.waiting.push(resolve));
  try {
    return await work();
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  }
}

export function hashPassword(password: string): Promise<string> {
  return withSlot(() => hash(normalizePassword(password), ARGON2_PARAMS));
}

// A real hash to verify against when there is no user, so a miss costs the same time as a hit.
let decoy: Promise<string> | null = null;

/**
 * Checks the password against a stored hash: Latchkey's argon2id, or a hash imported from another system
 * (imported-hashes.ts), which is verified as that system did and then needs a rehash. No hash, or one that
 * is in no known format, costs a decoy argon2id verification, so the answer's time does not tell.
 */
export async function verifyPassword(
  storedHash: string | null,
  password: string,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  if (storedHash !== null && isImportedFormat(storedHash)) {
    const ok = await withSlot(() => verifyImportedHash(storedHash, password).catch(() => null));
    if (ok !== null) return { ok, needsRehash: ok };
  } else if (storedHash !== null && storedHash.startsWith('$argon2')) {
    const ok = await withSlot(() => argon2Matches(storedHash, password));
    return { ok, needsRehash: ok && !storedHash.startsWith(CURRENT_PREFIX) };
  }
  decoy ??= hashPassword('latchkey-decoy-password');
  const decoyHash = await decoy;
  await withSlot(() => argon2Matches(decoyHash, password));
  return { ok: false, needsRehash: false };
}

/**
 * Latchkey hashes the NFKC form of a password; argon2 hashes imported from elsewhere were made from the
 * password as typed, so a password that NFKC changes is tried both ways — for the decoy too, so a user's
 * existence never changes the cost of a given password.
 */
async function argon2Matches(hash: string, password: string): Promise<boolean> {
  const normalized = normalizePassword(password);
  if (await verify(hash, normalized).catch(() => false)) return true;
  return password !== normalized && (await verify(hash, password).catch(() => false));
}
