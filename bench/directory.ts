// The directory benchmark: 100,000 users, then list and search latency (p50/p95) of /admin/users on the real server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { createServices } from '../src/services.ts';
import { hashPassword } from '../src/modules/passwords/hashing.ts';
import { serverEnv, startServer } from './latchkey.ts';
import { freePort } from '../test/support/net.ts';

const ADMIN_PASSWORD = 'Copper-Meadow-4471';
const FIRST = ['Ada', 'Bob', 'Carol', 'Dave', 'Élodie', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya'];
const LAST = ['Smith', 'Jones', 'Durand', 'Müller', 'Rossi', 'Tanaka', 'Nowak', 'Silva', 'Okafor', 'Berg', 'Kowalski', 'Haddad'];

export interface LatencyFigures {
  p50: number;
  p95: number;
  requests: number;
}

export interface DirectoryFigures {
  users: number;
  seedSeconds: number;
  scenarios: Record<string, LatencyFigures & { matches: string }>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Seeds `count` users straight into SQLite (one shared hash), after the schema is made by the real services. */
async function seed(dir: string, env: Record<string, string>, count: number): Promise<void> {
  const services = await createServices(loadConfig(env, dir), systemClock, createLogger('warn'));
  await services.users.create({ email: 'admin@bench.test', name: 'Bench Admin', password: ADMIN_PASSWORD, role: 'admin' }, COMMAND_LINE);
  await services.close();
  const hash = await hashPassword('Seeded-Harbor-9182');
  const db = new Database(path.join(dir, 'latchkey.db'));
  const insert = db.prepare(
    `insert into users (id, email, name, role, status, password_hash, created_at, last_login_at, password_changed_at, search_key)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]} ${i}`;
      const email = `user${i}@${i % 7 === 0 ? 'example.org' : 'example.com'}`;
      insert.run(
        `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        email,
        name,
        i % 1000 === 0 ? 'admin' : 'user',
        i % 50 === 0 ? 'archived' : 'active',
        hash,
        now - i * 1000,
        i % 3 === 0 ? null : now - i * 500,
        now - i * 700,
        `${name} ${email}`.toLowerCase(),
      );
    }
  })();
  db.close();
}

export async function benchDirectory(options: { users: number; requests: number }): Promise<DirectoryFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-directory-'));
  const port = await freePort();
  const env = serverEnv(dir, port);
  const started = performance.now();
  await seed(dir, env, options.users);
  const seedSeconds = (performance.now() - started) / 1000;
  const server = await startServer(dir, port);
  const base = server.url;
  try {
    const cookies = new Map<string, string>();
    const jar = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const keep = (response: Response) => {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [name, value] = pair!.split('=');
        cookies.set(name!.trim(), value ?? '');
      }
    };
    const loginPage = await fetch(`${base}/login`);
    keep(loginPage);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())?.[1] ?? '';
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, email: 'admin@bench.test', password: ADMIN_PASSWORD }),
    });
    keep(login);
    if (login.status !== 303) throw new Error(`bench admin could not log in (${login.status})`);

    const scenarios: DirectoryFigures['scenarios'] = {};
    const paths: Record<string, string> = {
      'list, first page by name': '/admin/users',
      'list, page 1,000 by name': '/admin/users?page=1000',
      'list, sorted by last login': '/admin/users?sort=last_login&dir=desc',
      'search "smith"': '/admin/users?q=smith',
      'search "user4242"': '/admin/users?q=user4242',
      'search "élodie" + Active': '/admin/users?q=%C3%A9lodie&filter=active',
      'filter Never logged in': '/admin/users?filter=never-logged-in',
      'filter Reset pending': '/admin/users?filter=reset-pending',
    };
    for (const [name, url] of Object.entries(paths)) {
      const times: number[] = [];
      let matches = '';
      for (let i = 0; i < options.requests; i++) {
        const t0 = performance.now();
        const response = await fetch(`${base}${url}`, { headers: { cookie: jar() } });
        const body = await response.text();
        times.push(performance.now() - t0);
        if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
        matches = /\(([\d,]+) users in all\)/.exec(body)?.[1] ?? '?';
      }
      times.sort((a, b) => a - b);
      scenarios[name] = { p50: percentile(times, 50), p95: percentile(times, 95), requests: times.length, matches };
    }
    return { users: options.users, seedSeconds, scenarios };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const figures = await benchDirectory({ users: 100_000, requests: 40 });
  console.log(`Directory of ${figures.users.toLocaleString('en-US')} users (seeded in ${figures.seedSeconds.toFixed(1)} s)`);
  for (const [name, f] of Object.entries(figures.scenarios)) {
    console.log(`${name.padEnd(30)} p50 ${f.p50.toFixed(1).padStart(7)} ms   p95 ${f.p95.toFixed(1).padStart(7)} ms   (${f.matches} match)`);
  }
}
