// The database a test runs on: a fresh SQLite file, or — in the PostgreSQL pass of `npm test` — a fresh PostgreSQL database.
import path from 'node:path';
import { createDatabase } from './postgres.ts';

/** Set by scripts/test.ts for the PostgreSQL pass: a superuser URL of the throwaway cluster. */
export const TEST_POSTGRES_URL = process.env.LATCHKEY_TEST_POSTGRES_URL || null;

export const onPostgres = TEST_POSTGRES_URL !== null;

/** LATCHKEY_DATABASE_URL for a new, empty database: a file in `dir` on SQLite, a new database on PostgreSQL. */
export async function freshDatabaseUrl(dir: string, file = 'latchkey.db'): Promise<string> {
  return TEST_POSTGRES_URL ? createDatabase(TEST_POSTGRES_URL) : `sqlite:${path.join(dir, file)}`;
}
