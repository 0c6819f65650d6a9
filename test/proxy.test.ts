// Latchkey as an operator runs it: two `latchkey serve` processes on one PostgreSQL database behind Debian's
// nginx, configured by docs/deploy/latchkey.nginx.conf as written (https, the redirect, the upstream), with a
// whole password reset going through the proxy.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { textOf, WebClient } from './support/client.ts';
import { TEST_POSTGRES_URL } from './support/database.ts';
import { cleanEnv, freePort } from './support/net.ts';
import { createDatabase, startPostgresCluster, type PostgresCluster } from './support/postgres.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { sleep, waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LATCHKEY = path.join(ROOT, 'bin', 'latchkey.js');
const DOCUMENTED_CONFIG = path.join(ROOT, 'docs', 'deploy', 'latchkey.nginx.conf');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((file) => existsSync(file));
const run = promisify(execFile);

const EMAIL = 'ada@example.com';
const NAME = 'Ada Lovelace';
const OLD_PASSWORD = 'Copper-Kettle-58';
const NEW_PASSWORD = 'Quiet-Lantern-77';
/** The address a client claims for itself; nginx appends the one it really saw. */
const FORGED = '203.0.113.9';
/** The test's client connects from here, so the address Latchkey records differs from nginx's own (127.0.0.1). */
const CLIENT_ADDRESS = '127.0.0.2';

interface Instance {
  name: string;
  port: number;
  child: ChildProcess;
  output: () => string;
}

/** The documented site, pointed at the test's ports, certificate and instances; every other line as written. */
function documentedSite(ports: { http: number; https: number; instances: number[] }, certificate: { cert: string; key: string }): string {
  let site = readFileSync(DOCUMENTED_CONFIG, 'utf8');
  const replace = (pattern: RegExp, expected: number, by: () => string) => {
    let count = 0;
    site = site.replace(pattern, () => (count++, by()));
    assert.equal(count, expected, `docs/deploy/latchkey.nginx.conf should have ${expected} line(s) matching ${pattern}`);
  };
  replace(/^\s*listen \[::\]:\d+.*$\n/gm, 2, () => '');
  replace(/listen 80;/g, 1, () => `listen 127.0.0.1:${ports.http};`);
  replace(/listen 443 ssl;/g, 1, () => `listen 127.0.0.1:${ports.https} ssl;`);
  replace(/ssl_certificate \S+;/g, 1, () => `ssl_certificate ${certificate.cert};`);
  replace(/ssl_certificate_key \S+;/g, 1, () => `ssl_certificate_key ${certificate.key};`);
  const instances = [...ports.instances];
  replace(/server 127\.0\.0\.1:\d+/g, instances.length, () => `server 127.0.0.1:${instances.shift()}`);
  return site;
}

/** nginx's own settings for a run in a temporary folder, without root: pid, logs and buffers stay in `dir`. */
function nginxConfig(dir: string, site: string): string {
  return [
    // As root, the master keeps root and the workers drop to nobody (Debian's build has no www-data default).
    process.getuid?.() === 0 ? 'user nobody nogroup;' : '',
    'worker_processes 1;',
    'daemon off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log notice;`,
    'events { worker_connections 128; }',
    'http {',
    // Which instance answered each request: the evidence that both did.
    `  log_format upstreams '$remote_addr "$request" $status upstream=$upstream_addr';`,
    `  access_log ${dir}/access.log upstreams;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind}_temp;`),
    site,
    '}',
    '',
  ].join('\n');
}

/** A self-signed certificate for 127.0.0.1, as the documented site needs one. */
async function selfSignedCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ]).catch((error: Error) => {
    throw new Error(`openssl could not make a test certificate (Debian: apt-get install openssl): ${error.message}`);
  });
  return { cert, key };
}


async function waitForAnswer(url: string, what: string, output: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { redirect: 'manual' });
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not start:\n${output()}`);
    await sleep(100);
  }
}

function capture(child: ChildProcess): () => string {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return () => output;
}

/** Sends `signal` and waits for the exit; SIGKILL if it takes longer than `graceMs`. */
async function stopProcess(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

describe('Latchkey behind nginx: two instances on one PostgreSQL database, as docs/deploy/latchkey.nginx.conf says', () => {
  const dirs: string[] = [];
  const instances: Instance[] = [];
  let nginx: ChildProcess | null = null;
  let nginxOutput = () => '';
  let cluster: PostgresCluster | null = null;
  let smtp: TestSmtpServer | null = null;
  let databaseUrl = '';
  let nginxDir = '';
  let certificate = '';
  let publicUrl = '';
  let plainUrl = '';
  const tlsRejectBefore = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

  before(async () => {
    if (!NGINX) throw new Error('nginx is not installed (Debian: apt-get install nginx-light); the reverse proxy test cannot run');
    if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('the build is missing: run `npm run build` first');

    smtp = await startSmtpServer();
    // Two instances need PostgreSQL: in the SQLite pass of `npm test` this file starts its own cluster.
    if (TEST_POSTGRES_URL === null) cluster = await startPostgresCluster({ maxConnections: 100 });
    databaseUrl = await createDatabase(TEST_POSTGRES_URL ?? cluster!.url, 'latchkey_proxy');

    nginxDir = mkdtempSync(path.join(tmpdir(), 'latchkey-nginx-'));
    dirs.push(nginxDir);
    // nginx's workers (nobody, when started as root) write request bodies under this folder.
    chmodSync(nginxDir, 0o755);
    const ports = { http: await freePort(), https: await freePort(), instances: [await freePort(), await freePort()] };
    publicUrl = `https://127.0.0.1:${ports.https}`;
    plainUrl = `http://127.0.0.1:${ports.http}`;

    // What the operator writes into each instance's environment file: one database, one secret, the public address.
    const shared = {
      LATCHKEY_DATABASE_URL: databaseUrl,
      LATCHKEY_SECRET: randomBytes(32).toString('base64url'),
      LATCHKEY_BASE_URL: `${publicUrl}/`,
      LATCHKEY_TRUST_PROXY: '1',
      LATCHKEY_SMTP_URL: smtp.url,
      LATCHKEY_MAIL_FROM: 'Latchkey <accounts@example.com>',
      LATCHKEY_HOST: '127.0.0.1',
      LATCHKEY_LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    };
    const start = (name: string, port: number, extra: Record<string, string>): Instance => {
      const dataDir = mkdtempSync(path.join(tmpdir(), `latchkey-${name}-`));
      dirs.push(dataDir);
      const env = cleanEnv({ ...shared, LATCHKEY_PORT: String(port), LATCHKEY_DATA_DIR: dataDir, ...extra });
      const child = spawn(process.execPath, [LATCHKEY, 'serve'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const instance = { name, port, child, output: capture(child) };
      instances.push(instance);
      return instance;
    };
    // Both start at once on an empty database: the migrations' advisory lock lets one of them migrate.
    const started = [
      start('mailing', ports.instances[0]!, {}),
      start('web-only', ports.instances[1]!, { LATCHKEY_MAIL_WORKER: 'off' }),
    ];
    for (const instance of started) {
      await waitForAnswer(`http://127.0.0.1:${instance.port}/healthz`, `latchkey serve (${instance.name})`, instance.output);
    }
    await run(process.execPath, [LATCHKEY, 'users', 'add', '--email', EMAIL, '--name', NAME, '--password', OLD_PASSWORD], {
      cwd: nginxDir,
      env: cleanEnv(shared),
    });

    const tls = await selfSignedCertificate(nginxDir);
    certificate = readFileSync(tls.cert, 'utf8');
    const config = path.join(nginxDir, 'nginx.conf');
    writeFileSync(config, nginxConfig(nginxDir, documentedSite(ports, tls)));
    nginx = spawn(NGINX, ['-p', nginxDir, '-c', config, '-e', path.join(nginxDir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginxOutput = capture(nginx);
    await waitForAnswer(`${plainUrl}/`, 'nginx', () => `${nginxOutput()}${readFileSync(path.join(nginxDir, 'error.log'), 'utf8')}`);
    // The test's browser trusts the self-signed certificate of 127.0.0.1 (only this test process does).
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  });

  after(async () => {
    if (tlsRejectBefore === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = tlsRejectBefore;
    const steps: Array<() => Promise<void> | void> = [
      () => (nginx ? stopProcess(nginx, 'SIGTERM') : undefined),
      ...instances.map((instance) => () => stopProcess(instance.child, 'SIGTERM')),
      () => smtp?.close(),
      () => cluster?.stop(),
      () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch {
        // Stop the rest regardless.
      }
    }
  });

  /** The access log as upstream addresses per request line. */
  function accessLog(): Array<{ client: string; request: string; status: number; upstream: string }> {
    return readFileSync(path.join(nginxDir, 'access.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const match = /^(\S+) "([^"]*)" (\d+) upstream=(\S*)$/.exec(line);
        assert.ok(match, `access log line: ${line}`);
        return { client: match[1]!, request: match[2]!, status: Number(match[3]), upstream: match[4]! };
      });
  }

  const instanceAt = (upstream: string) => instances.find((instance) => upstream === `127.0.0.1:${instance.port}`)?.name ?? upstream;

  async function auditEvents(where: { type: string; email: string }): Promise<Array<{ ip: string | null }>> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const result = await client.query<{ ip: string | null }>('select ip from audit_events where type = $1 and email = $2 order by id', [where.type, where.email]);
      return result.rows;
    } finally {
      await client.end();
    }
  }

  it('plain http is answered with a redirect to https', async () => {
    const response = await fetch(`${plainUrl}/login`, { redirect: 'manual' });
    assert.equal(response.status, 301);
    assert.match(response.headers.get('location') ?? '', /^https:\/\/127\.0\.0\.1\/login$/);
  });

  it('a whole reset through nginx: the request, the mail, the link, a new password, logged in, then a login with it', { timeout: 60_000 }, async (t) => {
    const browser = new WebClient(publicUrl);
    await browser.get('/reset-password');
    let page = await browser.post('/reset-password', { email: EMAIL });
    assert.equal(page.status, 200);
    assert.match(textOf(page.html), /If an account exists for this address, password reset instructions have been sent to it/);

    const mail = await smtp!.waitForMail((m) => m.to.includes(EMAIL), 15_000);
    const link = resetLinkIn(mail);
    assert.ok(link.startsWith(`${publicUrl}/reset-password/`), `the link points at the public address, not an instance: ${link}`);

    page = await browser.get(link);
    assert.equal(page.status, 200);
    assert.ok(page.url.endsWith('/reset-password/new'), `landed on ${page.url}`);
    assert.ok(
      page.headers.get('strict-transport-security')?.includes('max-age='),
      'behind https, pages carry HSTS (LATCHKEY_BASE_URL is https)',
    );
    assert.ok([...browser.cookies.keys()].some((name) => name.startsWith('__Host-')), 'cookies are __Host- cookies');

    page = await browser.post('/reset-password/new', { password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    assert.equal(page.status, 200);
    assert.ok(page.url.includes('/account'), `landed on ${page.url}`);
    assert.match(textOf(page.html), /ada@example\.com/);

    const later = new WebClient(publicUrl);
    await later.get('/login');
    page = await later.post('/login', { email: EMAIL, password: OLD_PASSWORD });
    assert.equal(page.status, 401, 'the old password no longer works');
    page = await later.post('/login', { email: EMAIL, password: NEW_PASSWORD });
    assert.equal(page.status, 200);
    assert.ok(page.url.includes('/account'), `logged in with the new password: ${page.url}`);

    for (const entry of accessLog()) t.diagnostic(`${entry.request} ${entry.status} → ${instanceAt(entry.upstream)}`);
  });

  it('nginx shared the requests between both instances', () => {
    const proxied = accessLog().filter((entry) => entry.upstream !== '-');
    for (const instance of instances) {
      const served = proxied.filter((entry) => entry.upstream === `127.0.0.1:${instance.port}`).length;
      assert.ok(served > 0, `the ${instance.name} instance served requests (${served} of ${proxied.length})`);
    }
    assert.ok(proxied.every((entry) => entry.status < 500), 'no request failed');
  });

  it('a reset asked of the web-only instance is mailed by the other: both hold the same LATCHKEY_SECRET', { timeout: 30_000 }, async () => {
    const webOnly = instances.find((instance) => instance.name === 'web-only')!;
    const direct = new WebClient(`http://127.0.0.1:${webOnly.port}`);
    await direct.get('/reset-password');
    const before = smtp!.mails.length;
    const page = await direct.post('/reset-password', { email: EMAIL });
    assert.equal(page.status, 200);
    // The web-only instance sealed the token into the queue; only the mailing instance sends, so it opened the seal.
    const mail = await smtp!.waitForMail((m) => smtp!.mails.indexOf(m) >= before && m.to.includes(EMAIL), 15_000);
    const opened = await new WebClient(publicUrl).get(resetLinkIn(mail));
    assert.equal(opened.status, 200);
    assert.ok(opened.url.endsWith('/reset-password/new'), 'the link works');
  });

  it('the audit log holds the address nginx saw; an X-Forwarded-For the client wrote itself changes nothing', { timeout: 30_000 }, async () => {
    const email = 'forger@example.com';
    // A client at 127.0.0.2 claims to be 203.0.113.9: nginx passes "203.0.113.9, 127.0.0.2"; Latchkey trusts one hop.
    const forged = { 'x-forwarded-for': FORGED };
    const form = await request('GET', '/login', forged);
    const cookies = form.cookies.join('; ');
    const csrf = /name="_csrf" value="([^"]*)"/.exec(form.body)?.[1] ?? '';
    const body = new URLSearchParams({ _csrf: csrf, email, password: 'Not-The-Password-1' }).toString();
    const refused = await request('POST', '/login', { ...forged, cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' }, body);
    assert.equal(refused.status, 401);

    const events = await auditEvents({ type: 'login.failed', email });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.ip, CLIENT_ADDRESS, `recorded ${events[0]!.ip}: not the forged ${FORGED}, not nginx's own 127.0.0.1`);
    // nginx writes the access log line after it has sent the answer: wait for it rather than race it.
    await waitFor('the access log line of the POST', () => accessLog().some((entry) => entry.client === CLIENT_ADDRESS && entry.request.startsWith('POST /login')));
  });

  it('a client that writes a new X-Forwarded-For on every post still meets the per-address limit of 30 a minute', { timeout: 30_000 }, async () => {
    const form = await request('GET', '/reset-password', {});
    const cookies = form.cookies.join('; ');
    const csrf = /name="_csrf" value="([^"]*)"/.exec(form.body)?.[1] ?? '';
    const statuses: number[] = [];
    for (let i = 0; i < 35; i++) {
      const body = new URLSearchParams({ _csrf: csrf, email: `sprayed-${i}@example.com` }).toString();
      const headers = { 'x-forwarded-for': `198.51.100.${i + 1}`, cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' };
      statuses.push((await request('POST', '/reset-password', headers, body)).status);
    }
    const refused = statuses.filter((status) => status === 429).length;
    assert.ok(refused >= 5, `at least the 5 posts past the limit are refused (statuses: ${statuses.join(' ')})`);
    assert.ok(statuses.slice(0, 30 - 2).every((status) => status === 200), 'the posts within the limit were answered');
  });

  it('the README shows the nginx configuration and the systemd unit of docs/deploy as they are', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const file of [DOCUMENTED_CONFIG, path.join(ROOT, 'docs', 'deploy', 'latchkey.service')]) {
      assert.ok(readme.includes(readFileSync(file, 'utf8').trimEnd()), `README.md carries ${path.relative(ROOT, file)} verbatim`);
    }
  });

  it('nginx does not pass /metrics to the public address', async () => {
    const response = await fetch(`${publicUrl}/metrics`);
    assert.equal(response.status, 404);
  });

  it('with one instance stopped (SIGTERM, as a rolling upgrade does), every request still gets its answer from the other', { timeout: 30_000 }, async () => {
    const webOnly = instances.find((instance) => instance.name === 'web-only')!;
    await stopProcess(webOnly.child, 'SIGTERM');
    assert.equal(webOnly.child.exitCode, 0, `the instance stopped cleanly:\n${webOnly.output()}`);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const client = new WebClient(publicUrl);
      statuses.push((await client.get('/login')).status);
      statuses.push((await client.post('/login', { email: 'nobody@example.com', password: 'Not-The-Password-1' })).status);
    }
    assert.deepEqual(statuses, Array.from({ length: 6 }, () => [200, 401]).flat());
  });

  /** One https request to nginx from CLIENT_ADDRESS, checking the certificate. */
  function request(method: string, target: string, headers: Record<string, string>, body?: string) {
    return new Promise<{ status: number; cookies: string[]; body: string }>((resolve, reject) => {
      const url = new URL(target, publicUrl);
      const outgoing = https.request(
        { host: url.hostname, port: url.port, path: url.pathname, method, headers, localAddress: CLIENT_ADDRESS, ca: certificate, rejectUnauthorized: true, agent: false },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              cookies: (response.headers['set-cookie'] ?? []).map((line) => line.split(';')[0]!),
              body: text,
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
});
