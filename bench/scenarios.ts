// The HTTP scenarios of `npm run bench` against the real server on one database target (SQLite, or PostgreSQL with
// one or more instances): reset request, link page, reset completion, login; each checked in the database after.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walSizeOf } from '../src/infra/db.ts';
import { describeKs, ksTest, type KsResult } from '../test/support/ks.ts';
import { freePort } from '../test/support/net.ts';
import { summarizeProfile, type ProfileSummary } from './cpu-profile.ts';
import { openDatabaseView, PROJECT_ROOT, seed, SEED_PASSWORD, sqliteFile, startInstances, type DatabaseTarget, type DatabaseView, type LatchkeyServer } from './latchkey.ts';
import { runLoad, type LoadRequest, type LoadResult } from './load.ts';
import { codeExchange, logIn, RefreshChains, signIn, signIns, tokensOf, type MintedCode } from './oidc.ts';

export const SCENARIOS = ['reset', 'link', 'complete', 'login', 'api-reset', 'api-search', 'oidc'] as const;
/** Scenarios measured as one load each; `oidc` reports its own figures (OidcReport). */
export type Scenario = Exclude<(typeof SCENARIOS)[number], 'oidc'>;
export const CONNECTIONS = 10;
export const RESULTS_DIR = path.join(PROJECT_ROOT, 'bench/results');
const NEW_PASSWORD = 'Bench-Lantern-8472';

export const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Check { name: string; ok: boolean; detail: string }
export const checks: Check[] = [];
export function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
  if (!ok) log(`CHECK FAILED: ${name}: ${detail}`);
}

// ---------------------------------------------------------------------------------------------------------------
// CPU time of the server process, split into the main thread (the event loop: HTTP, SQLite, rendering) and the
// other threads (the libuv pool where argon2id runs, V8's helpers).

/** Busy CPU seconds of the whole machine so far, from /proc/stat (all cores together). */
export async function machineBusySeconds(): Promise<number> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = first;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Cores' worth of CPU used by other processes over `ms` while nothing of ours runs: the machine's background load. */
export async function backgroundCores(ms = 1000): Promise<number> {
  const machineBefore = await machineBusySeconds();
  const benchBefore = process.cpuUsage();
  await sleep(ms);
  const bench = process.cpuUsage(benchBefore);
  return Math.max(0, ((await machineBusySeconds()) - machineBefore - (bench.user + bench.system) / 1e6) / (ms / 1000));
}

async function cpuSeconds(pid: number): Promise<{ main: number; other: number }> {
  let main = 0;
  let other = 0;
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
    if (Number(tid) === pid) main += seconds;
    else other += seconds;
  }
  return { main, other };
}

// ---------------------------------------------------------------------------------------------------------------
// Forms: a CSRF token and its cookie, taken once from a real page and reused, as a browser tab would.

interface Form { cookie: string; token: string }

export async function formFrom(url: string): Promise<Form> {
  const res = await fetch(url);
  const html = await res.text();
  const cookie = res.headers.getSetCookie().map((line) => line.split(';')[0]!.trim()).join('; ');
  const token = /name="_csrf" value="([^"]*)"/.exec(html)?.[1];
  if (!res.ok || !token || !cookie) throw new Error(`GET ${url} gave no CSRF token and cookie (status ${res.status})`);
  return { cookie, token };
}

export function formPost(pathname: string, form: Form, fields: Record<string, string>, extraCookie = ''): LoadRequest {
  return {
    method: 'POST',
    path: pathname,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: extraCookie ? `${form.cookie}; ${extraCookie}` : form.cookie,
      'user-agent': 'latchkey-bench',
    },
    body: new URLSearchParams({ _csrf: form.token, ...fields }).toString(),
  };
}

/** One request with fetch before the load, so a broken scenario fails with its reason instead of a table of errors. */
async function preflight(base: string, name: string, req: LoadRequest, expect: (status: number, location: string | undefined) => boolean): Promise<Response> {
  const res = await fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body, redirect: 'manual' });
  const body = await res.text();
  if (!expect(res.status, res.headers.get('location') ?? undefined)) {
    throw new Error(`${name}: ${req.method} ${req.path} answered ${res.status} ${res.headers.get('location') ?? ''}\n${body.slice(0, 600)}`);
  }
  return res;
}

async function waitForMail(db: DatabaseView, limitMs: number): Promise<{ backlog: number; drainMs: number; drained: boolean }> {
  const backlog = await db.pendingMail();
  const started = performance.now();
  while ((await db.pendingMail()) > 0 && performance.now() - started < limitMs) await sleep(50);
  return { backlog, drainMs: performance.now() - started, drained: (await db.pendingMail()) === 0 };
}

/** Waits until every answered reset request has been acted on (link issued, mail queued). */
async function waitForRequests(db: DatabaseView, limitMs: number): Promise<{ backlog: number; drainMs: number; drained: boolean }> {
  const waiting = () => db.count('select count(*) from reset_requests');
  const backlog = await waiting();
  const started = performance.now();
  while ((await waiting()) > 0 && performance.now() - started < limitMs) await sleep(20);
  return { backlog, drainMs: performance.now() - started, drained: (await waiting()) === 0 };
}

/** Waits until the server has finished what it had in hand (requests cut off by the end of a run, queued mail). */
async function settle(db: DatabaseView, limitMs = 15_000): Promise<void> {
  const started = performance.now();
  let last = -1;
  for (;;) {
    const events = await db.count('select count(*) from audit_events');
    // Reset requests wait for the courier up to a second (a random moment), fewer than a batch at a time.
    if (events === last && (await db.pendingMail()) === 0 && (await db.count('select count(*) from reset_requests')) === 0) return;
    if (performance.now() - started > limitMs) throw new Error(`the server did not settle within ${limitMs / 1000} s`);
    last = events;
    await sleep(150);
  }
}

export interface ScenarioReport {
  label: string;
  load: LoadResult;
  /** Server CPU per successful request, in ms, main thread and other threads. */
  cpuMsPerRequest: { main: number; other: number };
  /** Share of one core the servers' main threads used during the run (summed over instances). */
  mainThreadBusy: number;
  /** Cores' worth of CPU used by processes other than the server and the bench during the run: noise. */
  otherProcessesCores: number;
  verification: Record<string, number | string | boolean | Record<string, number>>;
  mail?: { backlog: number; drainMs: number; drained: boolean };
  /** The reset request only: the same load with unknown addresses, and both kinds interleaved, timed per answer. */
  byAddress?: { unknown: ScenarioReport; interleaved: InterleavedTimes };
}

/** Answer times of known and unknown addresses interleaved on every connection, and the KS test between them. */
export interface InterleavedTimes {
  requestsPerSecond: number;
  ks: KsResult;
  known: Percentiles;
  unknown: Percentiles;
}

export interface Percentiles { n: number; p50: number; p99: number }

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))] ?? NaN;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99) };
}

export interface KeptProfile { file: string; summary: ProfileSummary }

/** Copies the first CPU profile a server wrote (after it stopped) to bench/results/<name>.cpuprofile and summarizes it. */
export async function keepProfile(profileDir: string, name: string, label: string): Promise<KeptProfile | null> {
  const file = (await readdir(profileDir).catch(() => [] as string[])).find((entry) => entry.endsWith('.cpuprofile'));
  if (!file) {
    check(`${label}: the server wrote a CPU profile`, false, `nothing in ${profileDir}`);
    return null;
  }
  const copy = path.join(RESULTS_DIR, `${name}.cpuprofile`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await copyFile(path.join(profileDir, file), copy);
  return { file: path.relative(PROJECT_ROOT, copy), summary: await summarizeProfile(copy) };
}

/** Resident memory of the largest of several server processes. */
async function largestMemory(servers: LatchkeyServer[]): Promise<{ rss: number; peak: number }> {
  const each = await Promise.all(servers.map((server) => server.memory()));
  return { rss: Math.max(...each.map((m) => m.rss)), peak: Math.max(...each.map((m) => m.peak)) };
}

/** CPU seconds of several server processes together. */
async function cpuOf(servers: LatchkeyServer[]): Promise<{ main: number; other: number }> {
  const each = await Promise.all(servers.map((server) => cpuSeconds(server.pid)));
  return { main: each.reduce((sum, c) => sum + c.main, 0), other: each.reduce((sum, c) => sum + c.other, 0) };
}

async function measure(
  servers: LatchkeyServer[],
  db: DatabaseView,
  label: string,
  options: Parameters<typeof runLoad>[0],
): Promise<Omit<ScenarioReport, 'label' | 'verification' | 'mail'> & { since: number }> {
  await settle(db);
  log(`${label}: ${options.durationSeconds} s at ${options.connections} connections…`);
  const since = Date.now();
  const cpuBefore = await cpuOf(servers);
  const machineBefore = await machineBusySeconds();
  const benchBefore = process.cpuUsage();
  const load = await runLoad(options);
  for (const server of servers) server.assertRunning();
  const bench = process.cpuUsage(benchBefore);
  const machine = (await machineBusySeconds()) - machineBefore;
  const cpuAfter = await cpuOf(servers);
  const served = Math.max(1, load.completed);
  const seconds = Math.max(0.001, load.seconds);
  const serverCpu = cpuAfter.main - cpuBefore.main + cpuAfter.other - cpuBefore.other;
  return {
    load,
    since,
    cpuMsPerRequest: { main: ((cpuAfter.main - cpuBefore.main) * 1000) / served, other: ((cpuAfter.other - cpuBefore.other) * 1000) / served },
    mainThreadBusy: (cpuAfter.main - cpuBefore.main) / seconds,
    otherProcessesCores: Math.max(0, (machine - serverCpu - (bench.user + bench.system) / 1e6) / seconds),
  };
}

export function checkLoad(label: string, load: LoadResult): void {
  const bad = Object.entries(load.unexpected).map(([code, n]) => `${n}× ${code}`).join(', ');
  check(
    `${label}: every response as expected`,
    load.ok === load.completed && load.errors === 0 && load.completed > 0,
    `${load.ok}/${load.completed} as expected${bad ? `, unexpected: ${bad}` : ''}, ${load.errors} socket errors` +
      (load.firstUnexpected ? `; first unexpected: ${load.firstUnexpected.status} ${load.firstUnexpected.location ?? ''} ${load.firstUnexpected.body.replace(/\s+/g, ' ').slice(0, 200)}` : ''),
  );
}

/** Rows the server wrote for the run: at least one per success, at most one more per connection cut off at the end. */
function checkRows(label: string, what: string, rows: number, ok: number): void {
  check(`${label}: ${what}`, rows >= ok && rows <= ok + CONNECTIONS, `${rows} rows for ${ok} successful responses`);
}

// ---------------------------------------------------------------------------------------------------------------

export interface ScenarioSettings {
  duration: number;
  warmup: number;
  resetUsers: number;
  linkUsers: number;
  loginUsers: number;
  minCompletionTokens: number;
  /** Sign-ins to an application (authorization code flows) before the token endpoint is measured. */
  signIns: number;
}

export interface ScenarioOptions {
  target: DatabaseTarget;
  only: Set<string>;
  settings: ScenarioSettings;
  quick: boolean;
  profile: boolean;
  estimatedHashesPerSecond: number;
}

export interface OidcReport {
  /** Sign-ins completed (authorization code flows: /oidc/auth, Latchkey's interaction pages, code at the redirect URI). */
  signIns: number;
  signInsPerSecond: number;
  /** Resident memory of the (largest) server just before the sign-ins and after them, in MiB. */
  memoryMiB: { beforeSignIns: number; afterSignIns: number; peak: number };
  codeExchange: ScenarioReport;
  refresh: ScenarioReport;
}

/**
 * The user seeded first logs in to Latchkey once; then settings.signIns sign-ins to the bench's application (spread
 * over the instances), the server's memory after them, and the token endpoint: code exchange with the freshest of
 * those codes (they live 60 s), and refresh with the exchanges' refresh tokens, each chain rotating.
 */
async function benchOidc({ servers, db, target, settings, application }: {
  servers: LatchkeyServer[];
  db: DatabaseView;
  target: DatabaseTarget;
  settings: ScenarioSettings;
  application: NonNullable<Awaited<ReturnType<typeof seed>>['application']>;
}): Promise<OidcReport> {
  const urls = servers.map((server) => server.url);
  const loggedIn = await logIn(urls[0]!, 'seed@bench.example', SEED_PASSWORD);
  // One sign-in and exchange on each instance first: loads the provider, and fails early with the reason.
  for (const url of urls) await preflight(url, 'code exchange', codeExchange(application, await signIn(url, application, loggedIn)), (status) => status === 200);
  await settle(db);

  const before = await largestMemory(servers);
  log(`${target.label}: ${settings.signIns} sign-ins to an application, ${CONNECTIONS} at a time…`);
  const since = Date.now();
  const started = performance.now();
  const codes = await signIns(urls, application, loggedIn, settings.signIns, CONNECTIONS);
  const signInSeconds = (performance.now() - started) / 1000;
  await settle(db);
  const after = await largestMemory(servers);
  const audited = await db.count("select count(*) from audit_events where type = 'oidc.signed_in' and at >= ?", since);
  check(`${target.label}: sign-ins: an audit event per sign-in`, audited === codes.length, `${audited} "Signed in to an application" events for ${codes.length} sign-ins`);
  log(`${target.label}: ${codes.length} sign-ins in ${signInSeconds.toFixed(1)} s (${(codes.length / signInSeconds).toFixed(0)}/s); RSS ${before.rss.toFixed(1)} → ${after.rss.toFixed(1)} MiB`);

  // Codes live 60 s, and the server mints them several times slower than it exchanges them: the exchange runs at
  // most 5 s, with the codes that outlive it (and the settling before it).
  const exchangeSeconds = Math.min(settings.duration, 5);
  const fresh: MintedCode[] = codes.filter((code) => code.mintedAt >= Date.now() - (60 - exchangeSeconds - 8) * 1000);
  const refreshTokens: string[] = [];
  const common = { url: urls, connections: CONNECTIONS, durationSeconds: settings.duration };
  const exchangeLabel = 'token: code exchange';
  const exchange = await measure(servers, db, exchangeLabel, {
    ...common,
    durationSeconds: exchangeSeconds,
    request: (i) => codeExchange(application, fresh[i]!),
    expect: (status, _location, body) => {
      const tokens = tokensOf(status, body);
      if (tokens) refreshTokens.push(tokens.refresh_token);
      return tokens !== null;
    },
    maxRequests: fresh.length,
  });
  checkLoad(`${target.label}: ${exchangeLabel}`, exchange.load);
  check(`${target.label}: ${exchangeLabel}: the run was ended by its duration, not by running out of codes`, exchange.load.built < fresh.length, `${exchange.load.built} of ${fresh.length} fresh codes used`);
  const consumedCodes = await db.count("select count(*) from oidc_models where model = 'AuthorizationCode' and consumed_at >= ?", exchange.since);
  checkRows(`${target.label}: ${exchangeLabel}`, 'a code used up per exchange', consumedCodes, exchange.load.ok);

  const refreshLabel = 'token: refresh';
  const chains = new RefreshChains(application, refreshTokens.slice(-2 * CONNECTIONS));
  const refresh = await measure(servers, db, refreshLabel, {
    ...common,
    request: () => chains.next(),
    expect: (status, _location, body) => chains.answered(status, body),
  });
  checkLoad(`${target.label}: ${refreshLabel}`, refresh.load);
  const rotated = await db.count("select count(*) from oidc_models where model = 'RefreshToken' and consumed_at >= ?", refresh.since);
  checkRows(`${target.label}: ${refreshLabel}`, 'a refresh token used up per refresh', rotated, refresh.load.ok);

  return {
    signIns: codes.length,
    signInsPerSecond: codes.length / signInSeconds,
    memoryMiB: { beforeSignIns: before.rss, afterSignIns: after.rss, peak: after.peak },
    codeExchange: { label: exchangeLabel, ...exchange, verification: { codesUsed: consumedCodes, freshCodes: fresh.length, codesBuilt: exchange.load.built } },
    refresh: { label: refreshLabel, ...refresh, verification: { refreshTokensUsed: rotated, chains: 2 * CONNECTIONS } },
  };
}

/** Largest size of SQLite's write-ahead log, sampled every 100 ms from the moment the server is up until it stops. */
function sampleWal(file: string): { stop(): number } {
  let largest = walSizeOf(file);
  const timer = setInterval(() => { largest = Math.max(largest, walSizeOf(file)); }, 100);
  return { stop: () => { clearInterval(timer); return Math.max(largest, walSizeOf(file)); } };
}

/**
 * Seeds users and links, starts the target's server instances and runs the HTTP scenarios against them. With several
 * instances, autocannon spreads its connections round-robin over their URLs (connection i → instance i mod n).
 */
export async function benchLatchkey({ target, only, settings, quick, profile: withProfile, estimatedHashesPerSecond }: ScenarioOptions) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let servers: LatchkeyServer[] = [];
  let db: DatabaseView | null = null;
  let wal: { stop(): number } | null = null;
  try {
    const ports = await Promise.all(Array.from({ length: target.instances }, () => freePort()));
    const port = ports[0]!;
    // One single-use token per completion request, with room to spare so the duration, not the supply, ends the run.
    const completionTokens = only.has('complete')
      ? Math.min(20_000, Math.max(settings.minCompletionTokens, Math.ceil(estimatedHashesPerSecond * settings.duration * 1.5)))
      : 0;
    const groups = {
      r: { count: settings.resetUsers, tokens: false },
      o: { count: only.has('link') ? settings.linkUsers : 0, tokens: true },
      c: { count: completionTokens, tokens: true },
      l: { count: only.has('login') ? settings.loginUsers : 0, tokens: false },
    };
    log(`${target.label}: seeding ${groups.r.count + groups.o.count + groups.c.count + groups.l.count} users and issuing ${groups.o.count + groups.c.count} reset links…`);
    const seeded = await seed(dir, port, groups, target.databaseUrl, only.has('oidc'));
    log(`seeded in ${Math.round(seeded.seedMs)} ms, links issued in ${Math.round(seeded.tokenMs)} ms`);

    const profileDir = withProfile ? path.join(dir, 'profile') : undefined;
    servers = await startInstances(dir, ports, target, { cpuProfileDir: profileDir });
    if (!target.databaseUrl) wal = sampleWal(sqliteFile(dir));
    const memoryAfterStart = await largestMemory(servers);
    log(`${target.label}: ${servers.length} server${servers.length > 1 ? 's' : ''} up (pid ${servers.map((s) => s.pid).join(', ')}), RSS ${memoryAfterStart.rss.toFixed(1)} MiB`);
    db = openDatabaseView(dir, target.databaseUrl);
    const base = servers[0]!.url;
    const urls = servers.map((server) => server.url);
    const scenarios: Partial<Record<Scenario, ScenarioReport>> = {};
    const common = { url: urls, connections: CONNECTIONS, durationSeconds: settings.duration };

    // --- 0. Sign in with Latchkey: first, so that its memory figure is near the server's start ----------------------
    const oidc = only.has('oidc') ? await benchOidc({ servers, db, target, settings, application: seeded.application! }) : null;

    // --- 1. reset requests ---------------------------------------------------------------------------------------
    const resetForm = await formFrom(`${base}/reset-password`);
    const resetEmails = seeded.groups.r!.emails;
    const resetRequest = (i: number) => formPost('/reset-password', resetForm, { email: resetEmails[i % resetEmails.length]! });
    const resetOk = (status: number) => status === 200;
    await preflight(base, 'reset request', resetRequest(0), resetOk);
    log(`warming up with reset requests for ${settings.warmup} s…`);
    await runLoad({ ...common, durationSeconds: settings.warmup, request: resetRequest, expect: resetOk });

    if (only.has('reset')) {
      const label = 'reset request';
      const m = await measure(servers, db, label, { ...common, request: (i) => resetRequest(i + 1), expect: resetOk });
      checkLoad(`${target.label}: ${label}`, m.load);
      // The answer records the request; the courier's pass issues the link and queues the mail. Measured
      // until every answered request has been acted on, so the figure is what the server sustains.
      const acted = await waitForRequests(db, quick ? 30_000 : 60_000);
      check(`${target.label}: ${label}: every answered request was acted on`, acted.drained, `${acted.backlog} waiting when the load stopped, ${Math.round(acted.drainMs)} ms to act on them`);
      const sustained = m.load.ok / (settings.duration + acted.drainMs / 1000);
      log(`${target.label}: ${label}: ${acted.backlog} requests waiting when the load stopped, acted on ${Math.round(acted.drainMs)} ms later: ${sustained.toFixed(0)} requests/s acted on`);
      const links = await db.count("select count(*) from reset_links where requested_by = 'self' and created_at >= ?", m.since);
      const mails = await db.count("select count(*) from mail_messages where template = 'reset' and created_at >= ?", m.since);
      const audited = await db.count("select count(*) from audit_events where type = 'reset.requested' and at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'an audit event per request', audited, m.load.ok);
      // Requests for one account acted on in the same pass share the newest link (only the newest works).
      check(`${target.label}: ${label}: a link per request, or one for several requests of an account at once`, links > 0 && links <= audited, `${links} links for ${audited} requests`);
      check(`${target.label}: ${label}: a queued mail per link`, mails === links, `${mails} mails for ${links} links`);
      const mail = await waitForMail(db, quick ? 30_000 : 60_000);
      const statuses = await db.mailByStatus(m.since, 'reset');
      check(`${target.label}: ${label}: the mail worker finished every reset mail`, mail.drained, `${mail.backlog} waiting when the load stopped; ${JSON.stringify(statuses)} after ${Math.round(mail.drainMs)} ms`);
      scenarios.reset = { label, ...m, verification: { resetLinks: links, mails, auditEvents: audited, mailStatus: statuses, requestsWaiting: acted.backlog, requestsActedOnMs: acted.drainMs, requestsActedOnPerSecond: sustained }, mail };

      // Addresses without an account, the same way (throughput, p50, p99 side by side with the known ones); then
      // both interleaved on every connection, each answer timed, for the KS test: do the two kinds take the same time?
      const unknownEmail = (i: number) => `n${i % resetEmails.length}x@bench.example`;
      const unknownRequest = (i: number) => formPost('/reset-password', resetForm, { email: unknownEmail(i) });
      const u = await measure(servers, db, `${label}, unknown addresses`, { ...common, request: unknownRequest, expect: resetOk });
      checkLoad(`${target.label}: ${label}, unknown addresses`, u.load);
      const unknownActed = await waitForRequests(db, quick ? 30_000 : 60_000);
      const unknownAudited = await db.count("select count(*) from audit_events where type = 'reset.requested' and at >= ?", u.since);
      const unknownLinks = await db.count("select count(*) from reset_links where requested_by = 'self' and created_at >= ?", u.since);
      checkRows(`${target.label}: ${label}, unknown addresses`, 'an audit event per request', unknownAudited, u.load.ok);
      check(`${target.label}: ${label}, unknown addresses: no link issued`, unknownActed.drained && unknownLinks === 0, `${unknownLinks} links; ${unknownActed.backlog} requests waiting when the load stopped`);
      const times = { known: [] as number[], unknown: [] as number[] };
      const isKnown = (i: number) => i % 2 === 0;
      const mixed = await measure(servers, db, `${label}, known and unknown interleaved`, {
        ...common,
        request: (i) => (isKnown(i) ? resetRequest(i) : unknownRequest(i)),
        expect: resetOk,
        onLatency: (i, ms) => times[isKnown(i) ? 'known' : 'unknown'].push(ms),
      });
      checkLoad(`${target.label}: ${label}, known and unknown interleaved`, mixed.load);
      await waitForRequests(db, quick ? 30_000 : 60_000);
      await waitForMail(db, quick ? 30_000 : 60_000);
      const ks = ksTest(times.known, times.unknown);
      log(`${target.label}: ${label}: known vs unknown addresses interleaved at ${CONNECTIONS} connections: ${describeKs(ks)}`);
      scenarios.reset.byAddress = {
        unknown: { label: `${label}, unknown addresses`, ...u, verification: { auditEvents: unknownAudited, resetLinks: unknownLinks } },
        interleaved: { requestsPerSecond: mixed.load.requestsPerSecond, ks, known: percentiles(times.known), unknown: percentiles(times.unknown) },
      };
    }

    // --- 2. the link page ----------------------------------------------------------------------------------------
    let resetCookieName = 'latchkey_reset';
    const linkTokens = seeded.tokens.o ?? [];
    if (only.has('link') || only.has('complete')) {
      const probeToken = linkTokens[0] ?? seeded.tokens.c![0]!;
      const res = await preflight(base, 'link page', { method: 'GET', path: `/reset-password/${probeToken}` }, (s, l) => s === 303 && l === '/reset-password/new');
      // The cookie that carries the token to the new-password form, under whatever name the server uses.
      const cookie = res.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => pair.endsWith(`=${probeToken}`));
      if (cookie) resetCookieName = cookie.slice(0, cookie.indexOf('='));
    }
    if (only.has('link')) {
      const label = 'reset link page';
      const m = await measure(servers, db, label, {
        ...common,
        request: (i) => ({ method: 'GET', path: `/reset-password/${linkTokens[i % linkTokens.length]!}`, headers: { 'user-agent': 'latchkey-bench' } }),
        expect: (status, location) => status === 303 && location === '/reset-password/new',
      });
      checkLoad(`${target.label}: ${label}`, m.load);
      const opened = await db.count("select count(*) from audit_events where type = 'reset.link_opened' and at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'an audit event per opening', opened, m.load.ok);
      const stillUsable = await db.count('select count(*) from reset_links where user_id in (select id from users where email like ?) and used_at is null and revoked_at is null', 'o%x@bench.example');
      check(`${target.label}: ${label}: opening does not use links up`, stillUsable === linkTokens.length, `${stillUsable} of ${linkTokens.length} links still usable`);
      scenarios.link = { label, ...m, verification: { auditEvents: opened, linksStillUsable: stillUsable } };
    }

    // --- 3. reset completion: one single-use token per request -------------------------------------------------
    if (only.has('complete')) {
      const label = 'reset completion';
      const tokens = seeded.tokens.c!;
      const completeForm = await formFrom(`${base}/reset-password`);
      const completion = (token: string) =>
        formPost('/reset-password/new', completeForm, { password: NEW_PASSWORD, confirmation: NEW_PASSWORD }, `${resetCookieName}=${token}`);
      const completed = (status: number, location: string | undefined) => status === 303 && (location ?? '').startsWith('/account');
      await preflight(base, label, completion(tokens[tokens.length - 1]!), completed);
      const supply = tokens.slice(0, -1);
      const m = await measure(servers, db, label, { ...common, request: (i) => completion(supply[i]!), expect: completed, maxRequests: supply.length });
      checkLoad(`${target.label}: ${label}`, m.load);
      check(`${target.label}: ${label}: the run was ended by its duration, not by running out of tokens`, m.load.built < supply.length, `${m.load.built} of ${supply.length} tokens used`);
      const used = await db.count('select count(*) from reset_links where used_at >= ?', m.since);
      const changed = await db.count("select count(*) from audit_events where type = 'password.changed' and at >= ?", m.since);
      const mails = await db.count("select count(*) from mail_messages where template = 'password_changed' and created_at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'a used link per success', used, m.load.ok);
      checkRows(`${target.label}: ${label}`, 'a password change per success', changed, m.load.ok);
      checkRows(`${target.label}: ${label}`, 'a "password changed" mail per success', mails, m.load.ok);
      const mail = await waitForMail(db, quick ? 30_000 : 60_000);
      scenarios.complete = { label, ...m, verification: { linksUsed: used, passwordChanges: changed, mails, tokensUsed: m.load.built, tokensAvailable: supply.length }, mail };
    }

    // --- 4. login ------------------------------------------------------------------------------------------------
    if (only.has('login')) {
      const label = 'login';
      const loginForm = await formFrom(`${base}/login`);
      const loginEmails = seeded.groups.l!.emails;
      const loginRequest = (i: number) => formPost('/login', loginForm, { email: loginEmails[i % loginEmails.length]!, password: SEED_PASSWORD });
      const loggedIn = (status: number, location: string | undefined) => status === 303 && location === '/account';
      await preflight(base, label, loginRequest(0), loggedIn);
      const m = await measure(servers, db, label, { ...common, request: (i) => loginRequest(i + 1), expect: loggedIn });
      checkLoad(`${target.label}: ${label}`, m.load);
      const sessions = await db.count('select count(*) from sessions where created_at >= ?', m.since);
      const audited = await db.count("select count(*) from audit_events where type = 'login.succeeded' and at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'a session per login', sessions, m.load.ok);
      checkRows(`${target.label}: ${label}`, 'an audit event per login', audited, m.load.ok);
      scenarios.login = { label, ...m, verification: { sessions, auditEvents: audited } };
    }

    // --- 5. the JSON API, as an application calls it: the self-service reset request, and a users search -------------
    if (only.has('api-reset')) {
      const label = 'API reset request';
      const apiReset = (i: number): LoadRequest => ({
        method: 'POST',
        path: '/api/v1/reset-requests',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: resetEmails[i % resetEmails.length] }),
      });
      const accepted = (status: number) => status === 202;
      await preflight(base, label, apiReset(0), accepted);
      await waitForRequests(db, quick ? 30_000 : 60_000);
      await waitForMail(db, quick ? 30_000 : 60_000);
      const m = await measure(servers, db, label, { ...common, request: (i) => apiReset(i + 1), expect: accepted });
      checkLoad(`${target.label}: ${label}`, m.load);
      const acted = await waitForRequests(db, quick ? 30_000 : 60_000);
      check(`${target.label}: ${label}: every answered request was acted on`, acted.drained, `${acted.backlog} waiting when the load stopped`);
      const audited = await db.count("select count(*) from audit_events where type = 'reset.requested' and at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'an audit event per request', audited, m.load.ok);
      const mail = await waitForMail(db, quick ? 30_000 : 60_000);
      scenarios['api-reset'] = { label, ...m, verification: { auditEvents: audited, requestsWaiting: acted.backlog }, mail };
    }
    if (only.has('api-search')) {
      const label = 'API users search';
      const search = (i: number): LoadRequest => ({
        method: 'GET',
        path: `/api/v1/users?q=${encodeURIComponent(`r${i % resetEmails.length}x`)}&limit=20`,
        headers: { authorization: `Bearer ${seeded.apiKey}` },
      });
      const found = (status: number) => status === 200;
      await preflight(base, label, search(0), found);
      const m = await measure(servers, db, label, { ...common, request: (i) => search(i + 1), expect: found });
      checkLoad(`${target.label}: ${label}`, m.load);
      await settle(db);
      const audited = await db.count("select count(*) from audit_events where type = 'api_key.used' and at >= ?", m.since);
      checkRows(`${target.label}: ${label}`, 'an audit event per call', audited, m.load.ok);
      scenarios['api-search'] = { label, ...m, verification: { auditEvents: audited } };
    }

    await sleep(250);
    const memoryAfterRuns = await largestMemory(servers);
    const problems = servers.flatMap((server) => server.problems());
    check(`${target.label}: the servers logged no warnings or errors`, problems.length === 0, problems.length === 0 ? 'none' : `${problems.length}, first: ${problems[0]!.slice(0, 300)}`);
    await db.close();
    db = null;
    const exitCodes = await Promise.all(servers.map((server) => server.stop()));
    const walLargestBytes = wal?.stop() ?? null;
    check(`${target.label}: the servers stopped cleanly on SIGTERM`, exitCodes.every((code) => code === 0), `exit codes ${exitCodes.join(', ')}`);

    const profile = profileDir ? await keepProfile(profileDir, `latchkey-server-${target.name}`, target.label) : null;

    return {
      users: Object.fromEntries(Object.entries(seeded.groups).map(([group, { ids }]) => [group, ids.length])),
      seedMs: seeded.seedMs,
      linkIssueMs: seeded.tokenMs,
      memoryMiB: { afterStart: memoryAfterStart.rss, afterRuns: memoryAfterRuns.rss, peak: memoryAfterRuns.peak },
      scenarios,
      oidc,
      serverProblems: problems.slice(0, 20),
      walLargestBytes,
      profile,
    };
  } finally {
    wal?.stop();
    await db?.close();
    await Promise.all(servers.map((server) => server.stop()));
    process.off('exit', removeDir);
    await rm(dir, { recursive: true, force: true });
  }
}

