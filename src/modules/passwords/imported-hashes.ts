// Password hashes brought from other systems (Odoo, bcrypt, Better Auth, argon2): recognised at import, verified at login.
import { pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';

const pbkdf2Async = promisify(pbkdf2);

/**
 * Better Auth stores `salthex:keyhex`, which nothing else in a user's hash column looks like only by accident:
 * Latchkey stores it under this prefix, so a stored hash always names its own format.
 */
export const BETTER_AUTH_SCRYPT_PREFIX = '$better-auth-scrypt$';
// Better Auth's settings (@better-auth/utils password.node): scrypt of the NFKC password, the salt's hex text as salt.
const BETTER_AUTH_SCRYPT = { N: 16384, r: 16, p: 1, dkLen: 64, maxmem: 128 * 16384 * 16 * 2 } as const;

/**
 * Upper bounds on the work one stored hash may ask of a login: a hash from a file must not let one login
 * hold a core for minutes or take gigabytes. Generous against what the source systems use (Odoo: 600,000
 * pbkdf2 rounds; bcrypt: cost 10–12; argon2: tens of MiB).
 */
export const IMPORT_LIMITS = { pbkdf2Rounds: 5_000_000, bcryptCost: 15, argon2MemoryKiB: 262_144, argon2Time: 32, argon2Parallelism: 16 } as const;

const PBKDF2_SHA512 = /^\$pbkdf2-sha512\$(\d{1,9})\$([./A-Za-z0-9]{0,1400})\$([./A-Za-z0-9]{86})$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(?:i|d|id)\$(?:v=(?:16|19)\$)?m=(\d{1,9}),t=(\d{1,9}),p=(\d{1,9})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}$/;
const BETTER_AUTH_PLAIN = /^([0-9a-fA-F]{16,128}):([0-9a-fA-F]{128})$/;
const BETTER_AUTH_STORED = /^\$better-auth-scrypt\$([0-9a-fA-F]{16,128})\$([0-9a-f]{128})$/;

export type ImportedHash = { ok: true; stored: string } | { ok: false; problem: string };

/** Passlib's "adapted base64": standard base64 with "." for "+", no padding. */
function ab64(text: string): Buffer {
  return Buffer.from(text.replaceAll('.', '+'), 'base64');
}

/**
 * What to store for a hash given in an import file, or why it cannot be used. Recognised: passlib's
 * pbkdf2_sha512 (Odoo), bcrypt ($2a$, $2b$, $2y$), Better Auth's scrypt (`salt:key`, stored with a prefix),
 * argon2i/d/id (any parameters within IMPORT_LIMITS), and what Latchkey itself stores (an export's hashes).
 */
export function readImportedHash(text: string): ImportedHash {
  const hash = text.trim();
  const refuse = (problem: string): ImportedHash => ({ ok: false, problem });
  if (hash.startsWith('$pbkdf2-sha512$')) {
    const m = PBKDF2_SHA512.exec(hash);
    if (!m) return refuse('the pbkdf2-sha512 hash is malformed (expected $pbkdf2-sha512$rounds$salt$checksum in passlib\'s base64)');
    const rounds = Number(m[1]);
    if (rounds < 1 || rounds > IMPORT_LIMITS.pbkdf2Rounds) return refuse(`the pbkdf2-sha512 hash asks for ${rounds} rounds (at most ${IMPORT_LIMITS.pbkdf2Rounds.toLocaleString('en-US')})`);
    return { ok: true, stored: hash };
  }
  if (/^\$2[a-z]?\$/.test(hash)) {
    const m = BCRYPT.exec(hash);
    if (!m) return refuse('the bcrypt hash is malformed (expected $2a$, $2b$ or $2y$, a two-digit cost and 53 characters)');
    const cost = Number(m[1]);
    if (cost < 4 || cost > IMPORT_LIMITS.bcryptCost) return refuse(`the bcrypt hash has cost ${cost} (4 to ${IMPORT_LIMITS.bcryptCost})`);
    return { ok: true, stored: hash };
  }
  if (hash.startsWith('$argon2')) {
    const m = ARGON2.exec(hash);
    if (!m) return refuse('the argon2 hash is malformed (expected $argon2i$, $argon2d$ or $argon2id$ in the PHC string format)');
    const [memory, time, parallelism] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (memory > IMPORT_LIMITS.argon2MemoryKiB || time > IMPORT_LIMITS.argon2Time || parallelism > IMPORT_LIMITS.argon2Parallelism || time < 1 || parallelism < 1) {
      return refuse(`the argon2 hash asks for m=${memory},t=${time},p=${parallelism} (at most m=${IMPORT_LIMITS.argon2MemoryKiB},t=${IMPORT_LIMITS.argon2Time},p=${IMPORT_LIMITS.argon2Parallelism})`);
    }
    return { ok: true, stored: hash };
  }
  if (hash.startsWith(BETTER_AUTH_SCRYPT_PREFIX)) {
    return BETTER_AUTH_STORED.test(hash) ? { ok: true, stored: hash } : refuse('the Better Auth scrypt hash is malformed');
  }
  const plain = BETTER_AUTH_PLAIN.exec(hash);
  if (plain) return { ok: true, stored: `${BETTER_AUTH_SCRYPT_PREFIX}${plain[1]}$${plain[2]!.toLowerCase()}` };
  if (hash.includes(':') && /^[0-9a-fA-F:]+$/.test(hash)) return refuse('the Better Auth scrypt hash is malformed (expected salt:key in hex, a key of 128 hex digits)');
  return refuse('the password hash is in no format Latchkey reads (pbkdf2-sha512 as Odoo stores it, bcrypt, Better Auth scrypt, argon2)');
}

/** Whether a stored hash is one of the imported formats (all but Latchkey's own argon2id need a rehash). */
export function isImportedFormat(stored: string): boolean {
  return stored.startsWith('$pbkdf2-sha512$') || stored.startsWith('$2') || stored.startsWith(BETTER_AUTH_SCRYPT_PREFIX);
}

/**
 * Checks a password against an imported hash the way the source system did: passlib and bcrypt hash the
 * password's UTF-8 bytes as typed, Better Auth its NFKC form. Null when the stored text is not a format it
 * reads (then the caller treats it as no hash at all).
 */
export async function verifyImportedHash(stored: string, password: string): Promise<boolean | null> {
  if (stored.startsWith('$pbkdf2-sha512$')) {
    const m = PBKDF2_SHA512.exec(stored);
    if (!m) return null;
    const expected = ab64(m[3]!);
    const derived = await pbkdf2Async(Buffer.from(password, 'utf8'), ab64(m[2]!), Number(m[1]), expected.length, 'sha512');
    return timingSafeEqual(derived, expected);
  }
  if (stored.startsWith('$2')) {
    if (!BCRYPT.test(stored)) return null;
    return bcryptMatches(password, stored);
  }
  if (stored.startsWith(BETTER_AUTH_SCRYPT_PREFIX)) {
    const m = BETTER_AUTH_STORED.exec(stored);
    if (!m) return null;
    const expected = Buffer.from(m[2]!, 'hex');
    const { dkLen, ...options } = BETTER_AUTH_SCRYPT;
    const derived = await new Promise<Buffer>((resolve, reject) =>
      scrypt(password.normalize('NFKC'), m[1]!, dkLen, options, (error, key) => (error ? reject(error) : resolve(key))),
    );
    return timingSafeEqual(derived, expected);
  }
  return null;
}

// bcryptjs is plain JavaScript: on the server's thread a cost-10 comparison would hold every other request for
// about 80 ms. It runs on a worker thread of its own instead, started at the first bcrypt login.
const BCRYPT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.module);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch {}
  parentPort.postMessage({ id, ok });
});
`;

const bcryptWorker = { worker: null as Worker | null, next: 0, waiting: new Map<number, (ok: boolean) => void>() };

/** The worker keeps the process alive only while a comparison waits for it; if it dies, what waits fails and the next starts another. */
function bcryptMatches(password: string, hash: string): Promise<boolean> {
  if (!bcryptWorker.worker) {
    const worker = new Worker(BCRYPT_WORKER, { eval: true, workerData: { module: createRequire(import.meta.url).resolve('bcryptjs') } });
    const failAll = () => {
      for (const resolve of bcryptWorker.waiting.values()) resolve(false);
      bcryptWorker.waiting.clear();
      if (bcryptWorker.worker === worker) bcryptWorker.worker = null;
    };
    worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
      bcryptWorker.waiting.get(id)?.(ok);
      bcryptWorker.waiting.delete(id);
      if (bcryptWorker.waiting.size === 0) worker.unref();
    });
    worker.on('error', failAll);
    worker.on('exit', failAll);
    worker.unref();
    bcryptWorker.worker = worker;
  }
  const worker = bcryptWorker.worker;
  const id = bcryptWorker.next++;
  return new Promise((resolve) => {
    if (bcryptWorker.waiting.size === 0) worker.ref();
    bcryptWorker.waiting.set(id, resolve);
    worker.postMessage({ id, password, hash });
  });
}
