// The installation secret: LATCHKEY_SECRET, or a key file generated on first start with owner-only permissions.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config.ts';

export function loadSecret(configured: string | null, dataDir: string): string {
  if (configured !== null) {
    if (configured.length < 32) throw new ConfigError('LATCHKEY_SECRET must be at least 32 characters long');
    return configured;
  }
  const file = path.join(dataDir, 'secret.key');
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length < 32) throw new ConfigError(`LATCHKEY_SECRET is unset and ${file} is too short to be a key`);
    return stored;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const generated = randomBytes(32).toString('base64url');
  writeFileSync(file, generated + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return generated;
}
