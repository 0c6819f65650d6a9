// The embedded SQLite default under sustained writes: the write-ahead log stays under its limit while the
// load lasts and is emptied afterwards, so a busy server never fills its disk with the log.
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { walSizeOf } from '../src/infra/db.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { sleep } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LIMIT_MB = 4;
const LOAD_MS = 12_000;

const dirs: string[] = [];
let server: ChildProcess | null = null;
after(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});


/** One anonymous reset request, as a form post with its CSRF token (one audit row and index writes each). */
async function requestReset(url: string, n: number): Promise<number> {
  const form = await fetch(`${url}/reset-password`);
  const cookie = form.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
  const token = /name="_csrf" value="([^"]*)"/.exec(await form.text())?.[1] ?? '';
  const response = await fetch(`${url}/reset-password`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, email: `nobody-${n}-${'x'.repeat(40)}@example.com` }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('the SQLite write-ahead log under sustained writes', () => {
  it(`stays under LATCHKEY_SQLITE_WAL_LIMIT_MB (${LIMIT_MB} MB) during ${LOAD_MS / 1000} s and 2,000+ reset requests, and is emptied once they stop`, { timeout: 120_000 }, async (t: TestContext) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-wal-'));
    dirs.push(dir);
    const file = path.join(dir, 'latchkey.db');
    const port = await freePort();
    server = spawn(process.execPath, ['bin/latchkey.js', 'serve'], {
      cwd: ROOT,
      env: cleanEnv({
        LATCHKEY_DATA_DIR: dir,
        LATCHKEY_DATABASE_URL: `sqlite:${file}`,
        LATCHKEY_PORT: String(port),
        LATCHKEY_RATE_LIMIT: '0',
        LATCHKEY_SQLITE_WAL_LIMIT_MB: String(LIMIT_MB),
        LATCHKEY_LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
      }),
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    for (let tries = 0; ; tries++) {
      try {
        if ((await fetch(`${url}/healthz`)).ok) break;
      } catch {
        if (tries > 300) throw new Error('latchkey serve did not start');
      }
      await sleep(50);
    }

    let largest = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      largest = Math.max(largest, walSizeOf(file));
      samples++;
    }, 20);
    let requests = 0;
    const statuses = new Set<number>();
    // At least LOAD_MS and 2,000 requests (a busy machine takes longer), at most a minute.
    const started = Date.now();
    const going = () => (Date.now() - started < LOAD_MS || requests < 2000) && Date.now() - started < 60_000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (going()) statuses.add(await requestReset(url, requests++));
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    const written = largest;
    t.diagnostic(`${requests} reset requests in ${seconds.toFixed(1)} s; largest write-ahead log ${(written / 1048576).toFixed(2)} MB over ${samples} samples`);
    assert.deepEqual([...statuses], [200]);
    // Unbounded, the log grows about 5 KB a request (53 MB for 10,898 requests measured without the bound).
    assert.ok(requests >= 2000, `enough writes to matter (${requests} requests)`);
    assert.ok(largest > 0, 'the log was in use');
    assert.ok(largest <= LIMIT_MB * 1048576, `the log never passed ${LIMIT_MB} MB (largest ${(largest / 1048576).toFixed(2)} MB)`);

    // Idle: the next checkpoints leave the log no larger than SQLite's journal size limit, a quarter of the limit.
    await sleep(1500);
    assert.ok(walSizeOf(file) <= (LIMIT_MB * 1048576) / 4, `the log shrank after the load (${walSizeOf(file)} bytes)`);
    server.kill('SIGTERM');
    await new Promise((resolve) => server!.once('exit', resolve));
    assert.equal(walSizeOf(file), 0, 'a clean stop leaves no log behind');
  });
});
