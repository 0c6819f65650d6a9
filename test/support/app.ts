// Starts the real Latchkey app for a test: a fresh database (SQLite, or PostgreSQL in that pass), real HTTP port, optional real SMTP server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { buildApp } from '../../src/app.ts';
import { systemClock, type Clock } from '../../src/infra/clock.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { createServices, type Services } from '../../src/services.ts';
import { COMMAND_LINE } from '../../src/modules/audit/audit.ts';
import { freePort } from './net.ts';
import { freshDatabaseUrl } from './database.ts';

export interface TestApp {
  url: string;
  services: Services;
  app: FastifyInstance;
  dir: string;
  /** Creates a user with a password, straight through the service. */
  createUser(input: { email: string; name: string; password?: string; admin?: boolean }): ReturnType<Services['users']['create']>;
  close(): Promise<void>;
}


export const GOOD_PASSWORD = 'Velvet-Harbor-42';

export async function startTestApp(options: { env?: Record<string, string>; clock?: Clock; smtpUrl?: string; startWorker?: boolean } = {}): Promise<TestApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-test-'));
  // A known port, so the default base URL (and every emailed link) points at this very server.
  const port = await freePort();
  const env: Record<string, string> = {
    LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir),
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_PORT: String(port),
    LATCHKEY_RATE_LIMIT: '0',
    LATCHKEY_RESET_LIMIT_PER_HOUR: '0',
    NODE_ENV: 'test',
    ...(options.smtpUrl ? { LATCHKEY_SMTP_URL: options.smtpUrl } : {}),
    ...options.env,
  };
  const config = loadConfig(env, dir);
  const services = await createServices(config, options.clock ?? systemClock, createLogger('silent'));
  const app = await buildApp(services);
  await app.listen({ port, host: '127.0.0.1' });
  if (options.startWorker !== false) services.worker.start();
  return {
    url: `http://127.0.0.1:${port}`,
    services,
    app,
    dir,
    createUser: (input) =>
      services.users.create({ email: input.email, name: input.name, password: input.password ?? GOOD_PASSWORD, role: input.admin ? 'admin' : 'user' }, COMMAND_LINE),
    async close() {
      const closing = app.close();
      // A browser may hold a socket it opened ahead of a request it never made (a preconnect): the server would wait
      // for it until its headers timeout (a minute). After a moment, every connection still open is cut.
      const cut = setTimeout(() => app.server.closeAllConnections(), 1000);
      await closing;
      clearTimeout(cut);
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
