// `npm run bench`: load-tests the real Latchkey server (reset request, link page, reset completion, login) and the
// Better Auth peer on this machine, checks in the database that the load did real work, prints a table and
// writes bench/results/latest.json. Flags: --quick (short runs), --no-peer, --profile (CPU profile of the server),
// --only=reset,link,complete,login,mail,directory (a subset of the scenarios).
import { benchMail } from './mail.ts';
import { freePort } from '../test/support/net.ts';
import { benchDirectory } from './directory.ts';
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/modules/passwords/hashing.ts';
import { summarizeProfile, type ProfileSummary } from './cpu-profile.ts';
import { openReadOnly, PROJECT_ROOT, run, seed, SEED_PASSWORD, startServer, type LatchkeyServer, type ReadOnlyDb } from './latchkey.ts';
import { runLoad, type LoadRequest, type LoadResult } from './load.ts';
import { benchPeerLogin, benchPeerResetRequests, PEER_PASSWORD, seedPeerUsers, startPeer, type BenchResult } from './peer.ts';

const SCENARIOS = ['reset', 'link', 'complete', 'login'] as const;
/** Scenarios with a server of their own: mail throughput to an SMTP sink, and the 100,000-user directory. */
const OWN_SERVER = ['mail', 'directory'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, profile: { type: 'boolean' }, only: { type: 'string' } },
  strict: true,
});
const quick = flags.quick === true;
const withPeer = flags['no-peer'] !== true;
const ALL = [...SCENARIOS, ...OWN_SERVER] as const;
const only = new Set<string>(flags.only?.split(',').map((s) => s.trim()) ?? ALL);
for (const name of only) if (!(ALL as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario "${name}" (known: ${ALL.join(', ')})`);

const CONNECTIONS = 10;
const NEW_PASSWORD = 'Bench-Lantern-8472';
const settings = quick
  ? { duration: 3, warmup: 1, resetUsers: 1000, linkUsers: 300, loginUsers: 300, minCompletionTokens: 600, peerUsers: 30, hashRuns: 25 }
  : { duration: 10, warmup: 2, resetUsers: 1000, linkUsers: 1000, loginUsers: 1000, minCompletionTokens: 3000, peerUsers: 100, hashRuns: 25 };
const RESULTS_DIR = path.join(PROJECT_ROOT, 'bench/results');
const CORES = os.availableParallelism();

// The bench must end by itself: past this, whatever hangs is killed (children die with the process).
const HARD_LIMIT_MS = (quick ? 6 : 12) * 60_000;
setTimeout(() => {
  process.stderr.write(`bench: gave up after ${HARD_LIMIT_MS / 60_000} minutes\n`);
  process.exit(1);
}, HARD_LIMIT_MS).unref();
// Ctrl-C: exit through process.exit so the 'exit' hooks kill the server and the peer instead of leaving them running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Check { name: string; ok: boolean; detail: string }
const checks: Check[] = [];
function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
  if (!ok) log(`CHECK FAILED: ${name}: ${detail}`);
}

// ---------------------------------------------------------------------------------------------------------------
// argon2id: the cost every login and every password change pays, measured here with nothing else running.

/** Sequential hashPassword times in ms, after a short warm-up. */
async function timeHashes(runs: number): Promise<number[]> {
  for (let i = 0; i < 3; i++) await hashPassword(`warm-up-${i}-Aa1!`);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await hashPassword(`Measure-${i}-Password!`);
    times.push(performance.now() - started);
  }
  return times;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Hash time from two batches, one before and one after the Latchkey runs: on a shared VM one batch can be off by
 * 20 %, which would swing the bound. Also hashes side by side, one per core: what the cores really deliver together.
 */
async function summarizeHashing(before: number[], after: number[]) {
  const times = [...before, ...after].sort((a, b) => a - b);
  const meanMs = mean(times);
  const p99Ms = times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)]!;
  const parallelRuns = 100;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CORES }, async () => {
    while (next < parallelRuns) await hashPassword(`Parallel-${next++}-Password!`);
  }));
  const parallelPerSecond = parallelRuns / ((performance.now() - started) / 1000);
  return {
    runs: times.length,
    meanMs,
    p99Ms,
    medianMs: times[Math.floor(times.length / 2)]!,
    meanBeforeMs: mean(before),
    meanAfterMs: mean(after),
    cores: CORES,
    boundPerSecond: CORES / (meanMs / 1000),
    parallelPerSecond,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CPU time of the server process, split into the main thread (the event loop: HTTP, SQLite, rendering) and the
// other threads (the libuv pool where argon2id runs, V8's helpers).

/** Busy CPU seconds of the whole machine so far, from /proc/stat (all cores together). */
async function machineBusySeconds(): Promise<number> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = first;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Cores' worth of CPU used by other processes over `ms` while nothing of ours runs: the machine's background load. */
async function backgroundCores(ms = 1000): Promise<number> {
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

async function formFrom(url: string): Promise<Form> {
  const res = await fetch(url);
  const html = await res.text();
  const cookie = res.headers.getSetCookie().map((line) => line.split(';')[0]!.trim()).join('; ');
  const token = /name="_csrf" value="([^"]*)"/.exec(html)?.[1];
  if (!res.ok || !token || !cookie) throw new Error(`GET ${url} gave no CSRF token and cookie (status ${res.status})`);
  return { cookie, token };
}

function formPost(pathname: string, form: Form, fields: Record<string, string>, extraCookie = ''): LoadRequest {
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

async function waitForMail(db: ReadOnlyDb, limitMs: number): Promise<{ backlog: number; drainMs: number; drained: boolean }> {
  const backlog = db.pendingMail();
  const started = performance.now();
  while (db.pendingMail() > 0 && performance.now() - started < limitMs) await sleep(50);
  return { backlog, drainMs: performance.now() - started, drained: db.pendingMail() === 0 };
}

/** Waits until the server has finished what it had in hand (requests cut off by the end of a run, queued mail). */
async function settle(db: ReadOnlyDb, limitMs = 15_000): Promise<void> {
  const started = performance.now();
  let last = -1;
  for (;;) {
    const events = db.count('select count(*) from audit_events');
    if (events === last && db.pendingMail() === 0) return;
    if (performance.now() - started > limitMs) throw new Error(`the server did not settle within ${limitMs / 1000} s`);
    last = events;
    await sleep(150);
  }
}

interface ScenarioReport {
  label: string;
  load: LoadResult;
  /** Server CPU per successful request, in ms, main thread and other threads. */
  cpuMsPerRequest: { main: number; other: number };
  /** Share of one core the server's main thread used during the run. */
  mainThreadBusy: number;
  /** Cores' worth of CPU used by processes other than the server and the bench during the run: noise. */
  otherProcessesCores: number;
  verification: Record<string, number | string | boolean | Record<string, number>>;
  mail?: { backlog: number; drainMs: number; drained: boolean };
}

async function measure(
  server: LatchkeyServer,
  db: ReadOnlyDb,
  label: string,
  options: Parameters<typeof runLoad>[0],
): Promise<Omit<ScenarioReport, 'label' | 'verification' | 'mail'> & { since: number }> {
  await settle(db);
  log(`${label}: ${options.durationSeconds} s at ${options.connections} connections…`);
  const since = Date.now();
  const cpuBefore = await cpuSeconds(server.pid);
  const machineBefore = await machineBusySeconds();
  const benchBefore = process.cpuUsage();
  const load = await runLoad(options);
  server.assertRunning();
  const bench = process.cpuUsage(benchBefore);
  const machine = (await machineBusySeconds()) - machineBefore;
  const cpuAfter = await cpuSeconds(server.pid);
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

function checkLoad(label: string, load: LoadResult): void {
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

async function benchLatchkey(estimatedHashesPerSecond: number) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let server: LatchkeyServer | null = null;
  let db: ReadOnlyDb | null = null;
  try {
    const port = await freePort();
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
    log(`seeding ${groups.r.count + groups.o.count + groups.c.count + groups.l.count} users and issuing ${groups.o.count + groups.c.count} reset links…`);
    const seeded = await seed(dir, port, groups);
    log(`seeded in ${Math.round(seeded.seedMs)} ms, links issued in ${Math.round(seeded.tokenMs)} ms`);

    const profileDir = flags.profile ? path.join(dir, 'profile') : undefined;
    server = await startServer(dir, port, { cpuProfileDir: profileDir });
    const memoryAfterStart = await server.memory();
    log(`server up (pid ${server.pid}), RSS ${memoryAfterStart.rss.toFixed(1)} MiB`);
    db = openReadOnly(dir);
    const base = server.url;
    const scenarios: Partial<Record<Scenario, ScenarioReport>> = {};
    const common = { url: base, connections: CONNECTIONS, durationSeconds: settings.duration };

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
      const m = await measure(server, db, label, { ...common, request: (i) => resetRequest(i + 1), expect: resetOk });
      checkLoad(label, m.load);
      const links = db.count("select count(*) from reset_links where requested_by = 'self' and created_at >= ?", m.since);
      const mails = db.count("select count(*) from mail_messages where template = 'reset' and created_at >= ?", m.since);
      const audited = db.count("select count(*) from audit_events where type = 'reset.requested' and at >= ?", m.since);
      checkRows(label, 'a reset link per request', links, m.load.ok);
      checkRows(label, 'a queued mail per request', mails, m.load.ok);
      checkRows(label, 'an audit event per request', audited, m.load.ok);
      const mail = await waitForMail(db, quick ? 30_000 : 60_000);
      const statuses = db.mailByStatus(m.since, 'reset');
      check(`${label}: the mail worker finished every reset mail`, mail.drained, `${mail.backlog} waiting when the load stopped; ${JSON.stringify(statuses)} after ${Math.round(mail.drainMs)} ms`);
      scenarios.reset = { label, ...m, verification: { resetLinks: links, mails, auditEvents: audited, mailStatus: statuses }, mail };
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
      const m = await measure(server, db, label, {
        ...common,
        request: (i) => ({ method: 'GET', path: `/reset-password/${linkTokens[i % linkTokens.length]!}`, headers: { 'user-agent': 'latchkey-bench' } }),
        expect: (status, location) => status === 303 && location === '/reset-password/new',
      });
      checkLoad(label, m.load);
      const opened = db.count("select count(*) from audit_events where type = 'reset.link_opened' and at >= ?", m.since);
      checkRows(label, 'an audit event per opening', opened, m.load.ok);
      const stillUsable = db.count('select count(*) from reset_links where user_id in (select id from users where email like ?) and used_at is null and revoked_at is null', 'o%x@bench.example');
      check(`${label}: opening does not use links up`, stillUsable === linkTokens.length, `${stillUsable} of ${linkTokens.length} links still usable`);
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
      const m = await measure(server, db, label, { ...common, request: (i) => completion(supply[i]!), expect: completed, maxRequests: supply.length });
      checkLoad(label, m.load);
      check(`${label}: the run was ended by its duration, not by running out of tokens`, m.load.built < supply.length, `${m.load.built} of ${supply.length} tokens used`);
      const used = db.count('select count(*) from reset_links where used_at >= ?', m.since);
      const changed = db.count("select count(*) from audit_events where type = 'password.changed' and at >= ?", m.since);
      const mails = db.count("select count(*) from mail_messages where template = 'password_changed' and created_at >= ?", m.since);
      checkRows(label, 'a used link per success', used, m.load.ok);
      checkRows(label, 'a password change per success', changed, m.load.ok);
      checkRows(label, 'a "password changed" mail per success', mails, m.load.ok);
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
      const m = await measure(server, db, label, { ...common, request: (i) => loginRequest(i + 1), expect: loggedIn });
      checkLoad(label, m.load);
      const sessions = db.count('select count(*) from sessions where created_at >= ?', m.since);
      const audited = db.count("select count(*) from audit_events where type = 'login.succeeded' and at >= ?", m.since);
      checkRows(label, 'a session per login', sessions, m.load.ok);
      checkRows(label, 'an audit event per login', audited, m.load.ok);
      scenarios.login = { label, ...m, verification: { sessions, auditEvents: audited } };
    }

    await sleep(250);
    const memoryAfterRuns = await server.memory();
    const problems = server.problems();
    check('the server logged no warnings or errors', problems.length === 0, problems.length === 0 ? 'none' : `${problems.length}, first: ${problems[0]!.slice(0, 300)}`);
    db.close();
    db = null;
    const exitCode = await server.stop();
    check('the server stopped cleanly on SIGTERM', exitCode === 0, `exit code ${exitCode}`);

    let profile: { file: string; summary: ProfileSummary } | null = null;
    if (profileDir) {
      const file = (await readdir(profileDir).catch(() => [] as string[])).find((name) => name.endsWith('.cpuprofile'));
      if (file) {
        const target = path.join(RESULTS_DIR, 'latchkey-server.cpuprofile');
        await mkdir(RESULTS_DIR, { recursive: true });
        await copyFile(path.join(profileDir, file), target);
        profile = { file: path.relative(PROJECT_ROOT, target), summary: await summarizeProfile(target) };
      } else {
        check('the server wrote a CPU profile', false, `nothing in ${profileDir}`);
      }
    }

    return {
      users: Object.fromEntries(Object.entries(seeded.groups).map(([group, { ids }]) => [group, ids.length])),
      seedMs: seeded.seedMs,
      linkIssueMs: seeded.tokenMs,
      memoryMiB: { afterStart: memoryAfterStart.rss, afterRuns: memoryAfterRuns.rss, peak: memoryAfterRuns.peak },
      scenarios,
      serverProblems: problems.slice(0, 20),
      profile,
    };
  } finally {
    db?.close();
    await server?.stop();
    process.off('exit', removeDir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchPeer() {
  log('starting the Better Auth peer…');
  const peer = await startPeer();
  try {
    const started = performance.now();
    const emails = await seedPeerUsers(peer.url, settings.peerUsers);
    log(`peer: seeded ${emails.length} users in ${Math.round(performance.now() - started)} ms`);
    const background = await backgroundCores();
    const outbox = async () => ((await (await fetch(`${peer.url}/__outbox`)).json()) as { to: string; token: string }[]).length;
    const opts = { connections: CONNECTIONS, durationSeconds: settings.duration };
    const before = await outbox();
    log(`peer reset request: ${settings.duration} s at ${CONNECTIONS} connections…`);
    const reset = await benchPeerResetRequests(peer.url, emails, opts);
    const mails = (await outbox()) - before;
    check('peer reset request: every response 2xx', reset.non2xx === 0 && reset.errors === 0 && reset.completed > 0, `${reset.completed} responses, ${reset.non2xx} non-2xx, ${reset.errors} errors`);
    check('peer reset request: a mail per request', mails >= reset.completed && mails <= reset.completed + CONNECTIONS, `${mails} mails for ${reset.completed} responses`);
    log(`peer login: ${settings.duration} s at ${CONNECTIONS} connections…`);
    const login = await benchPeerLogin(peer.url, emails, PEER_PASSWORD, opts);
    check('peer login: every response 2xx', login.non2xx === 0 && login.errors === 0 && login.completed > 0, `${login.completed} responses, ${login.non2xx} non-2xx, ${login.errors} errors`);
    return { users: emails.length, backgroundCores: background, reset: { ...reset, mails }, login };
  } finally {
    await peer.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Output

const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));

function table(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const wall = performance.now();
  const loadBefore = os.loadavg();
  log(`mode: ${quick ? 'quick' : 'normal'} (${settings.duration} s per scenario), ${CORES} cores, Node ${process.version}${withPeer ? '' : ', without the peer'}`);
  log('building (npm run build)…');
  await run('npm', ['run', 'build'], PROJECT_ROOT);

  log(`timing argon2id (${settings.hashRuns} hashes)…`);
  const hashesBefore = await timeHashes(settings.hashRuns);
  log(`argon2id: ${mean(hashesBefore).toFixed(2)} ms mean → about ${(CORES / (mean(hashesBefore) / 1000)).toFixed(0)}/s on ${CORES} cores`);

  const background = await backgroundCores();
  const benchCpuBefore = process.cpuUsage();
  const latchkey = await benchLatchkey(CORES / (mean(hashesBefore) / 1000));
  const benchCpu = process.cpuUsage(benchCpuBefore);
  log(`timing argon2id again (${settings.hashRuns} hashes, then ${CORES} side by side)…`);
  const hashing = await summarizeHashing(hashesBefore, await timeHashes(settings.hashRuns));
  const mail = only.has('mail') ? await benchMail({ requests: quick ? 500 : 2000, connections: CONNECTIONS, log }) : null;
  if (mail) {
    check('mail: every reset request delivered', mail.delivered === mail.requests, `${mail.delivered} of ${mail.requests}`);
    check('mail: no mail delivered twice', mail.duplicates === 0, `${mail.duplicates} duplicates`);
  }
  if (only.has('directory')) log(`directory: seeding ${quick ? '20,000' : '100,000'} users, then list and search latency…`);
  const directory = only.has('directory') ? await benchDirectory({ users: quick ? 20_000 : 100_000, requests: quick ? 10 : 40 }) : null;
  const peer = withPeer ? await benchPeer() : null;

  const s = latchkey.scenarios;
  const loginShare = s.login ? s.login.load.requestsPerSecond / hashing.boundPerSecond : undefined;
  const ratio = s.reset && peer ? s.reset.load.requestsPerSecond / peer.reset.requestsPerSecond : undefined;
  const targets = [
    { name: 'reset requests vs Better Auth', goal: '≥ 3×', value: ratio, shown: ratio === undefined ? (peer ? 'n/a' : 'n/a (--no-peer)') : `${fmt(ratio, 2)}×`, pass: ratio === undefined ? null : ratio >= 3 },
    { name: `reset request p99 at ${CONNECTIONS} connections`, goal: '< 25 ms', value: s.reset?.load.p99, shown: s.reset ? `${fmt(s.reset.load.p99)} ms` : 'n/a', pass: s.reset ? s.reset.load.p99 < 25 : null },
    { name: 'logins/s vs argon2id bound', goal: '≥ 90%', value: loginShare, shown: loginShare === undefined ? 'n/a' : `${fmt(loginShare * 100, 1)}% (${fmt(s.login!.load.requestsPerSecond)} of ${fmt(hashing.boundPerSecond)}/s)`, pass: loginShare === undefined ? null : loginShare >= 0.9 },
    { name: 'server memory after start (RSS)', goal: '< 120 MB', value: latchkey.memoryMiB.afterStart, shown: `${fmt(latchkey.memoryMiB.afterStart, 1)} MB`, pass: latchkey.memoryMiB.afterStart < 120 },
  ];

  const rows: string[][] = [];
  const okCell = (ok: number, total: number) => `${ok}/${total}`;
  for (const name of SCENARIOS) {
    const r = s[name];
    if (!r) continue;
    const other = r.load.completed - r.load.ok + r.load.errors;
    rows.push([
      `Latchkey ${r.label}`,
      fmt(r.load.requestsPerSecond, 1),
      fmt(r.load.p50),
      fmt(r.load.p99),
      okCell(r.load.ok, r.load.completed),
      String(other),
      `${fmt(r.cpuMsPerRequest.main, 2)} + ${fmt(r.cpuMsPerRequest.other, 2)}`,
      `${fmt(r.mainThreadBusy * 100)}%`,
      fmt(r.otherProcessesCores, 2),
    ]);
  }
  const peerRow = (label: string, r: BenchResult) => [
    `Better Auth ${label}`, fmt(r.requestsPerSecond, 1), fmt(r.p50), fmt(r.p99), okCell(r.completed - r.non2xx, r.completed), String(r.non2xx + r.errors), '', '', '',
  ];
  if (peer) rows.push(peerRow('reset request', peer.reset), peerRow('login', peer.login));

  const out: string[] = [];
  out.push('');
  out.push(`Latchkey bench — ${startedAt.toISOString()} — ${quick ? 'quick' : 'normal'} mode, ${settings.duration} s per scenario, ${CONNECTIONS} connections, ${CORES} cores (${os.cpus()[0]?.model.trim() ?? 'cpu'}), Node ${process.version}`);
  out.push('');
  out.push(table(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'ok/total', 'other', 'server CPU ms/req (main + pool)', 'main thread busy', 'other procs (cores)'], rows, [1, 2, 3, 4, 5, 9]));
  out.push('');
  out.push(table(['target', 'measured', 'goal', 'result'], targets.map((t) => [t.name, t.shown, t.goal, t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'MISS'])));
  out.push('');
  const facts: string[][] = [
    ['argon2id hashPassword (bench process)', `mean ${fmt(hashing.meanMs, 2)} ms, p99 ${fmt(hashing.p99Ms, 2)} ms, median ${fmt(hashing.medianMs, 2)} ms over ${hashing.runs} runs (means: ${fmt(hashing.meanBeforeMs, 2)} ms before the Latchkey runs, ${fmt(hashing.meanAfterMs, 2)} ms after)`],
    ['argon2id bound', `${fmt(hashing.boundPerSecond)} hashes/s = ${CORES} cores / ${fmt(hashing.meanMs, 2)} ms`],
    ['argon2id measured with one hash per core', `${fmt(hashing.parallelPerSecond)} hashes/s${s.login ? ` (logins reach ${fmt((s.login.load.requestsPerSecond / hashing.parallelPerSecond) * 100)}% of it)` : ''}`],
    ['server RSS', `${fmt(latchkey.memoryMiB.afterStart, 1)} MB after start, ${fmt(latchkey.memoryMiB.afterRuns, 1)} MB after the runs, peak ${fmt(latchkey.memoryMiB.peak, 1)} MB`],
    ['seeding', `${Object.values(latchkey.users).reduce((a, b) => a + b, 0) + 1} users in ${fmt(latchkey.seedMs)} ms, reset links issued in ${fmt(latchkey.linkIssueMs)} ms`],
    ['load generator CPU (bench process)', `${fmt((benchCpu.user + benchCpu.system) / 1e6, 1)} s during the Latchkey part`],
  ];
  if (s.reset?.mail) facts.push(['reset mails', `${s.reset.mail.backlog} waiting for the worker when the load stopped, all done ${fmt(s.reset.mail.drainMs)} ms later; ${JSON.stringify(s.reset.verification.mailStatus)}`]);
  if (s.complete) facts.push(['reset completion tokens', `${s.complete.verification.tokensUsed} of ${s.complete.verification.tokensAvailable} single-use tokens used`]);
  if (peer) facts.push(['Better Auth peer', `${peer.users} users; ${peer.reset.mails} reset mails captured for ${peer.reset.completed} responses`]);
  out.push(table(['figure', 'value'], facts));
  out.push('');
  if (mail) {
    out.push(`Mail throughput: ${mail.requests} reset requests at ${CONNECTIONS} connections, delivered through SMTP to a local sink`);
    out.push(
      table(
        ['mails/s', 'request → accepted p50 ms', 'request → accepted p99 ms', 'HTTP answer p50 ms', 'HTTP answer p99 ms', 'delivered', 'duplicates'],
        [[fmt(mail.mailsPerSecond, 1), fmt(mail.acceptedP50, 1), fmt(mail.acceptedP99, 1), fmt(mail.responseP50, 1), fmt(mail.responseP99, 1), `${mail.delivered}/${mail.requests}`, String(mail.duplicates)]],
        [0, 1, 2, 3, 4, 5, 6],
      ),
    );
    out.push('');
  }
  if (directory) {
    out.push(`Directory: /admin/users with ${directory.users.toLocaleString('en-US')} users (seeded in ${fmt(directory.seedSeconds, 1)} s), ${Object.values(directory.scenarios)[0]?.requests ?? 0} requests each, one at a time`);
    out.push(table(['view', 'p50 ms', 'p95 ms', 'matches'], Object.entries(directory.scenarios).map(([name, f]) => [name, fmt(f.p50, 1), fmt(f.p95, 1), f.matches]), [1, 2, 3]));
    out.push('');
  }
  const noise = Math.max(background, peer?.backgroundCores ?? 0, ...Object.values(s).map((r) => r.otherProcessesCores));
  const noisy = noise > 0.25;
  if (noisy) {
    out.push(`WARNING: the machine was busy with other work (other processes used up to ${fmt(noise, 2)} cores during a scenario or just before; ${fmt(background, 2)} before Latchkey${peer ? `, ${fmt(peer.backgroundCores, 2)} before the peer` : ''}): the figures are not reliable; run again on a quiet machine.`);
    out.push('');
  }
  const failed = checks.filter((c) => !c.ok);
  out.push(failed.length === 0 ? `checks: all ${checks.length} passed (responses as expected, rows and mails really written)` : `checks: ${failed.length} of ${checks.length} FAILED`);
  for (const c of failed) out.push(`  FAILED ${c.name}: ${c.detail}`);
  if (latchkey.profile) {
    const p = latchkey.profile.summary;
    out.push('');
    out.push(`server CPU profile (${latchkey.profile.file}): main thread busy ${fmt(p.busyMs)} ms, idle ${fmt(p.idleMs)} ms`);
    out.push(table(['area', 'self ms', 'share'], p.areas.slice(0, 12).map((a) => [a.area, fmt(a.selfMs), `${fmt(a.share * 100, 1)}%`]), [1, 2]));
    out.push('');
    out.push(table(['function', 'where', 'self ms', 'share'], p.functions.map((f) => [f.name, f.where, fmt(f.selfMs), `${fmt(f.share * 100, 1)}%`]), [2, 3]));
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');

  const result = {
    generatedAt: startedAt.toISOString(),
    wallSeconds: (performance.now() - wall) / 1000,
    mode: quick ? 'quick' : 'normal',
    durationSeconds: settings.duration,
    connections: CONNECTIONS,
    machine: { node: process.version, cores: CORES, cpu: os.cpus()[0]?.model.trim() ?? null, platform: `${os.platform()} ${os.release()}`, memoryMiB: Math.round(os.totalmem() / 2 ** 20), loadAverageAtStart: loadBefore, loadAverageAtEnd: os.loadavg(), backgroundCoresBeforeLatchkey: background, busyWithOtherWork: noisy },
    argon2id: hashing,
    latchkey: { ...latchkey, loadGeneratorCpuSeconds: (benchCpu.user + benchCpu.system) / 1e6 },
    mail,
    directory,
    peer,
    targets: targets.map(({ name, goal, value, pass }) => ({ name, goal, value: value ?? null, result: pass === null ? 'SKIP' : pass ? 'PASS' : 'MISS' })),
    checks,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'latest.json');
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), file)} (${fmt(result.wallSeconds)} s in all)`);
  if (failed.length > 0) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
// Timers of a failed run (autocannon, pollers) must not keep the process alive.
process.exit();
