// Growth under abuse: the bytes SQLite keeps for each anonymous reset request (an address that belongs to nobody), once
// the worker has acted on it, and what is left of them after LATCHKEY_RETENTION_ANONYMOUS_DAYS.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config.ts';
import { ManualClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { freePort } from '../test/support/net.ts';
import { openDatabaseView, seed, serverEnv, sqliteFile, startServer } from './latchkey.ts';
import { runLoad } from './load.ts';
import { check, formFrom, formPost, sleep } from './scenarios.ts';

export interface GrowthFigures {
  requests: number;
  /** Bytes of database pages in use, divided by the requests: as stored, and after the retention period. */
  bytesPerRequest: number;
  bytesPerRequestAfterRetention: number;
  retentionDays: number;
}

/** Bytes in pages that hold data (free pages left by deletes are reused, not grown). */
function bytesInUse(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const pages = (db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number);
    return pages * (db.pragma('page_size', { simple: true }) as number);
  } finally {
    db.close();
  }
}

export async function benchGrowth(options: { requests: number; connections: number; log: (line: string) => void }): Promise<GrowthFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-bench-growth-'));
  const port = await freePort();
  const file = sqliteFile(dir);
  try {
    await seed(dir, port, {});
    const server = await startServer(dir, port);
    const view = openDatabaseView(dir);
    let baseline: number;
    let stored: number;
    try {
      const form = await formFrom(`${server.url}/reset-password`);
      baseline = bytesInUse(file);
      options.log(`growth: ${options.requests} reset requests for unknown addresses…`);
      const load = await runLoad({
        url: server.url,
        connections: options.connections,
        durationSeconds: 120,
        maxRequests: options.requests,
        request: (i) => formPost('/reset-password', form, { email: `nobody${i}x@growth.example` }),
        expect: (status) => status === 200,
      });
      check('growth: every anonymous reset request answered', load.ok === options.requests, `${load.ok} of ${options.requests}`);
      // Until the worker has acted on every request (each becomes one audit event and its row is removed).
      const deadline = performance.now() + 60_000;
      while ((await view.count('select count(*) from reset_requests')) > 0 && performance.now() < deadline) await sleep(50);
      const audited = await view.count("select count(*) from audit_events where type = 'reset.requested' and user_id is null");
      check('growth: an audit event per anonymous request', audited === options.requests, `${audited} events for ${options.requests} requests`);
      stored = bytesInUse(file) - baseline;
    } finally {
      await view.close();
      await server.stop();
    }

    // The same database, its clock moved past the retention of anonymous events, cleaned as the server would.
    const config = loadConfig(serverEnv(dir, port), dir);
    const days = config.retention.anonymousDays;
    const clock = new ManualClock(Date.now() + (days + 1) * 86_400_000);
    const services = await createServices(config, clock, createLogger('warn'));
    try {
      const removed = await services.retention.cleanUp();
      check('growth: retention removed every anonymous event', removed?.anonymousEvents === options.requests, JSON.stringify(removed));
    } finally {
      await services.close();
    }
    const figures = { requests: options.requests, bytesPerRequest: stored / options.requests, bytesPerRequestAfterRetention: (bytesInUse(file) - baseline) / options.requests, retentionDays: days };
    options.log(`growth: ${figures.bytesPerRequest.toFixed(0)} bytes kept per anonymous request, ${figures.bytesPerRequestAfterRetention.toFixed(0)} after ${days} days`);
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
