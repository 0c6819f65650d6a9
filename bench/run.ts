// `npm run bench`: load-tests the real Latchkey server on SQLite, on PostgreSQL with one instance and with two
// (reset request, link page, reset completion, login, sign-ins to an application and its token endpoint, mail to an
// SMTP sink) and the Better Auth peer on this machine,
// checks in the database that the load did real work, prints the figures side by side and writes
// bench/results/latest.json. Flags: --quick (short runs), --no-peer, --profile (CPU profile of the servers),
// --only=reset,link,complete,login,api-reset,api-search,oidc,mail,directory,growth,import (a subset of the scenarios),
// --databases=sqlite,postgres (postgres = one and two instances; postgres-1 or postgres-2 for one of them).
import os from 'node:os';
import path from 'node:path';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/modules/passwords/hashing.ts';
import { describeKs } from '../test/support/ks.ts';
import { createDatabase, startPostgresCluster, type PostgresCluster } from '../test/support/postgres.ts';
import { benchDirectory } from './directory.ts';
import { benchGrowth } from './growth.ts';
import { benchImport, writeImportFile, type ImportFigures } from './import.ts';
import { PROJECT_ROOT, run, type DatabaseTarget } from './latchkey.ts';
import { benchMail } from './mail.ts';
import { benchPeerLogin, benchPeerResetRequests, PEER_PASSWORD, seedPeerUsers, startPeer } from './peer.ts';
import { fmt, formatReport, type DatabaseRun, type Target } from './report.ts';
import { backgroundCores, benchLatchkey, check, checks, CONNECTIONS, log, RESULTS_DIR, SCENARIOS } from './scenarios.ts';

/**
 * Scenarios with a server of their own: mail throughput to an SMTP sink, the 100,000-user directory (SQLite), the
 * bytes kept per anonymous reset request (SQLite), and `latchkey users import` of 100,000 users (--only=import).
 */
const OWN_SERVER = ['mail', 'directory', 'growth', 'import'] as const;
const IMPORT_USERS = 100_000;
const DATABASES = ['sqlite', 'postgres-1', 'postgres-2'] as const;

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, profile: { type: 'boolean' }, only: { type: 'string' }, databases: { type: 'string' } },
  strict: true,
});
const quick = flags.quick === true;
const withPeer = flags['no-peer'] !== true;
const ALL = [...SCENARIOS, ...OWN_SERVER] as const;
const only = new Set<string>(flags.only?.split(',').map((s) => s.trim()) ?? ALL);
for (const name of only) if (!(ALL as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario "${name}" (known: ${ALL.join(', ')})`);
const databases = new Set<string>(
  (flags.databases?.split(',').map((s) => s.trim()) ?? ['sqlite', 'postgres']).flatMap((name) => (name === 'postgres' ? ['postgres-1', 'postgres-2'] : [name])),
);
for (const name of databases) if (!(DATABASES as readonly string[]).includes(name)) throw new Error(`--databases: unknown database "${name}" (known: sqlite, postgres, ${DATABASES.join(', ')})`);

const settings = quick
  ? { duration: 3, warmup: 1, resetUsers: 1000, linkUsers: 300, loginUsers: 300, minCompletionTokens: 600, signIns: 4000, peerUsers: 30, hashRuns: 25 }
  : { duration: 10, warmup: 2, resetUsers: 1000, linkUsers: 1000, loginUsers: 1000, minCompletionTokens: 3000, signIns: 10_000, peerUsers: 100, hashRuns: 25 };
const CORES = os.availableParallelism();

// The bench must end by itself: past this, whatever hangs is killed (children die with the process).
const HARD_LIMIT_MS = (quick ? 8 : 20) * 60_000;
setTimeout(() => {
  process.stderr.write(`bench: gave up after ${HARD_LIMIT_MS / 60_000} minutes\n`);
  process.exit(1);
}, HARD_LIMIT_MS).unref();
// Ctrl-C: exit through process.exit so the 'exit' hooks kill the servers and the peer instead of leaving them running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

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

/** A throwaway PostgreSQL cluster with durability on (fsync, synchronous commit, full page writes), as in production. */
async function startCluster(): Promise<PostgresCluster> {
  log('starting a throwaway PostgreSQL cluster (durability on)…');
  const cluster = await startPostgresCluster({ durable: true }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; --databases=sqlite runs the bench without PostgreSQL`);
  });
  process.once('exit', cluster.stop);
  return cluster;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const wall = performance.now();
  const loadBefore = os.loadavg();
  log(`mode: ${quick ? 'quick' : 'normal'} (${settings.duration} s per scenario), ${CORES} cores, Node ${process.version}, databases: ${[...databases].join(', ')}${withPeer ? '' : ', without the peer'}`);
  log('building (npm run build)…');
  await run('npm', ['run', 'build'], PROJECT_ROOT);

  log(`timing argon2id (${settings.hashRuns} hashes)…`);
  const hashesBefore = await timeHashes(settings.hashRuns);
  log(`argon2id: ${mean(hashesBefore).toFixed(2)} ms mean → about ${(CORES / (mean(hashesBefore) / 1000)).toFixed(0)}/s on ${CORES} cores`);

  const cluster = [...databases].some((name) => name.startsWith('postgres')) ? await startCluster() : null;
  const background = await backgroundCores();
  const benchCpuBefore = process.cpuUsage();
  const runs: DatabaseRun[] = [];
  const httpScenarios = SCENARIOS.some((name) => only.has(name));
  const imports: ImportFigures[] = [];
  const importDir = only.has('import') ? await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-import-file-')) : null;
  const importFile = importDir ? path.join(importDir, 'users.csv') : null;
  if (importFile) await writeImportFile(importFile, IMPORT_USERS);
  for (const name of DATABASES) {
    if (!databases.has(name)) continue;
    const instances = name === 'postgres-2' ? 2 : 1;
    const target = async (): Promise<DatabaseTarget> => ({
      name,
      label: name === 'sqlite' ? 'SQLite' : `PostgreSQL ×${instances}`,
      databaseUrl: name === 'sqlite' ? undefined : await createDatabase(cluster!.url, 'latchkey_bench'),
      instances,
    });
    const forHttp = await target();
    const latchkey = httpScenarios
      ? await benchLatchkey({ target: forHttp, only, settings, quick, profile: flags.profile === true, estimatedHashesPerSecond: CORES / (mean(hashesBefore) / 1000) })
      : null;
    const mail = only.has('mail') ? await benchMail({ requests: quick ? 500 : 2000, connections: CONNECTIONS, target: await target(), profile: flags.profile === true, log }) : null;
    if (mail) {
      check(`${forHttp.label} mail: every reset request delivered`, mail.delivered === mail.requests, `${mail.delivered} of ${mail.requests}`);
      check(`${forHttp.label} mail: no mail delivered twice`, mail.duplicates === 0, `${mail.duplicates} duplicates`);
    }
    // One instance is what an import runs against: the command line, not the servers.
    if (importFile && name !== 'postgres-2') {
      log(`${forHttp.label} import: latchkey users import of ${IMPORT_USERS.toLocaleString('en-US')} users with their hashes…`);
      const figures = await benchImport({ file: importFile, users: IMPORT_USERS, label: name === 'sqlite' ? 'SQLite' : 'PostgreSQL', databaseUrl: (await target()).databaseUrl });
      check(`${figures.database} import: every user and its user.created event written`, figures.usersWritten === IMPORT_USERS && figures.createdEvents === IMPORT_USERS, `${figures.usersWritten} users, ${figures.createdEvents} events of ${IMPORT_USERS}`);
      imports.push(figures);
    }
    runs.push({
      name,
      label: forHttp.label,
      instances,
      latchkey: latchkey ?? { users: {}, seedMs: 0, linkIssueMs: 0, memoryMiB: { afterStart: NaN, afterRuns: NaN, peak: NaN }, scenarios: {}, oidc: null, walLargestBytes: null, profile: null },
      mail,
    });
  }
  const benchCpu = process.cpuUsage(benchCpuBefore);
  if (importDir) await rm(importDir, { recursive: true, force: true });
  cluster?.stop();
  log(`timing argon2id again (${settings.hashRuns} hashes, then ${CORES} side by side)…`);
  const hashing = await summarizeHashing(hashesBefore, await timeHashes(settings.hashRuns));
  if (only.has('directory')) log(`directory: seeding ${quick ? '20,000' : '100,000'} users, then list and search latency…`);
  const directory = only.has('directory') ? await benchDirectory({ users: quick ? 20_000 : 100_000, requests: quick ? 10 : 40 }) : null;
  const growth = only.has('growth') ? await benchGrowth({ requests: quick ? 500 : 2000, connections: CONNECTIONS, log }) : null;
  const peer = withPeer ? await benchPeer() : null;

  const targets: Target[] = [];
  for (const r of runs) {
    const reset = r.latchkey.scenarios.reset;
    const goal = r.name === 'sqlite' ? 3 : 2;
    if (reset) {
      // Judged on the lower of the rate answered and the rate acted on (link issued, mail queued): a backlog
      // left when the load stops is not throughput. The peer does all its work before it answers.
      const sustained = Math.min(reset.load.requestsPerSecond, Number(reset.verification.requestsActedOnPerSecond ?? reset.load.requestsPerSecond));
      const ratio = peer ? sustained / peer.reset.requestsPerSecond : undefined;
      targets.push({ name: `${r.label}: reset requests (acted on) vs Better Auth`, goal: `≥ ${goal}×`, value: ratio, shown: ratio === undefined ? 'n/a (--no-peer)' : `${fmt(ratio, 2)}× (${fmt(sustained)}/s)`, pass: ratio === undefined ? null : ratio >= goal });
    }
    if (reset && r.name === 'sqlite') {
      targets.push({ name: `${r.label}: reset request p99 at ${CONNECTIONS} connections`, goal: '< 25 ms', value: reset.load.p99, shown: `${fmt(reset.load.p99)} ms`, pass: reset.load.p99 < 25 });
    }
    if (r.mail) targets.push({ name: `${r.label}: mail to a local SMTP sink`, goal: '≥ 500/s', value: r.mail.mailsPerSecond, shown: `${fmt(r.mail.mailsPerSecond)}/s`, pass: r.mail.mailsPerSecond >= 500 });
  }
  for (const figures of imports) {
    targets.push({ name: `${figures.database}: latchkey users import of ${IMPORT_USERS.toLocaleString('en-US')} users`, goal: '< 60 s', value: figures.seconds, shown: `${fmt(figures.seconds, 1)} s (${fmt(figures.usersPerSecond)} users/s)`, pass: figures.seconds < 60 });
  }
  const sqlite = runs.find((r) => r.name === 'sqlite');
  const login = sqlite?.latchkey.scenarios.login;
  if (login) {
    const share = login.load.requestsPerSecond / hashing.boundPerSecond;
    targets.push({ name: 'SQLite: logins/s vs argon2id bound', goal: '≥ 90%', value: share, shown: `${fmt(share * 100, 1)}% (${fmt(login.load.requestsPerSecond)} of ${fmt(hashing.boundPerSecond)}/s)`, pass: share >= 0.9 });
  }
  if (sqlite && httpScenarios) {
    const rss = sqlite.latchkey.memoryMiB.afterStart;
    targets.push({ name: 'SQLite: server memory after start (RSS)', goal: '< 120 MB', value: rss, shown: `${fmt(rss, 1)} MB`, pass: rss < 120 });
  }

  const facts: string[][] = [
    ['rate limits', 'off in the bench (LATCHKEY_RATE_LIMIT=0, LATCHKEY_RESET_LIMIT_PER_HOUR=0) so the service is measured, not the limiter; on in production'],
    ['PostgreSQL', cluster ? `${cluster.url.replace(/\/[^/]*$/, '')}, a throwaway cluster with durability on (fsync, synchronous_commit, full_page_writes); pool size 10 per instance` : 'not run'],
    ['two instances', 'one database, one data folder (shared secret), mail worker on in both; autocannon spreads its 10 connections round-robin: 5 per instance'],
    ['argon2id hashPassword (bench process)', `mean ${fmt(hashing.meanMs, 2)} ms, p99 ${fmt(hashing.p99Ms, 2)} ms, median ${fmt(hashing.medianMs, 2)} ms over ${hashing.runs} runs (means: ${fmt(hashing.meanBeforeMs, 2)} ms before the Latchkey runs, ${fmt(hashing.meanAfterMs, 2)} ms after)`],
    ['argon2id bound', `${fmt(hashing.boundPerSecond)} hashes/s = ${CORES} cores / ${fmt(hashing.meanMs, 2)} ms`],
    ['argon2id measured with one hash per core', `${fmt(hashing.parallelPerSecond)} hashes/s${login ? ` (SQLite logins reach ${fmt((login.load.requestsPerSecond / hashing.parallelPerSecond) * 100)}% of it)` : ''}`],
    ['load generator CPU (bench process)', `${fmt((benchCpu.user + benchCpu.system) / 1e6, 1)} s during the Latchkey part`],
  ];
  for (const r of runs) {
    if (!httpScenarios) continue;
    const l = r.latchkey;
    facts.push([`${r.label}: server RSS${r.instances > 1 ? ' (largest instance)' : ''}`, `${fmt(l.memoryMiB.afterStart, 1)} MB after start, ${fmt(l.memoryMiB.afterRuns, 1)} MB after the runs, peak ${fmt(l.memoryMiB.peak, 1)} MB`]);
    facts.push([`${r.label}: seeding`, `${Object.values(l.users).reduce((a, b) => a + b, 0) + 1} users in ${fmt(l.seedMs)} ms, reset links issued in ${fmt(l.linkIssueMs)} ms`]);
    if (l.scenarios.reset) {
      const v = l.scenarios.reset.verification;
      facts.push([`${r.label}: reset requests acted on`, `${v.requestsWaiting} waiting when the load stopped, all acted on ${fmt(Number(v.requestsActedOnMs))} ms later: ${fmt(Number(v.requestsActedOnPerSecond))} requests/s sustained (answered and acted on)`]);
    }
    const interleaved = l.scenarios.reset?.byAddress?.interleaved;
    if (interleaved) {
      facts.push([
        `${r.label}: reset request, known vs unknown addresses interleaved (${CONNECTIONS} connections)`,
        `${describeKs(interleaved.ks)}; each answer timed: p50 ${fmt(interleaved.known.p50, 2)} vs ${fmt(interleaved.unknown.p50, 2)} ms, p99 ${fmt(interleaved.known.p99, 2)} vs ${fmt(interleaved.unknown.p99, 2)} ms, at ${fmt(interleaved.requestsPerSecond)} req/s`,
      ]);
    }
    if (l.scenarios.reset?.mail) facts.push([`${r.label}: reset mails`, `${l.scenarios.reset.mail.backlog} waiting for the worker when the load stopped, all done ${fmt(l.scenarios.reset.mail.drainMs)} ms later; ${JSON.stringify(l.scenarios.reset.verification.mailStatus)}`]);
    if (l.oidc) {
      const o = l.oidc;
      facts.push([`${r.label}: sign-ins to an application`, `${o.signIns} authorization code flows (PKCE, a person already logged in to Latchkey, ${CONNECTIONS} at a time) at ${fmt(o.signInsPerSecond)}/s; server RSS${r.instances > 1 ? ' (largest instance)' : ''} ${fmt(o.memoryMiB.beforeSignIns, 1)} MB before, ${fmt(o.memoryMiB.afterSignIns, 1)} MB after (peak ${fmt(o.memoryMiB.peak, 1)} MB)`]);
      facts.push([`${r.label}: token endpoint`, `code exchange: ${o.codeExchange.verification.codesBuilt} of ${o.codeExchange.verification.freshCodes} fresh codes used; refresh: ${o.refresh.verification.chains} rotation chains`]);
    }
    if (l.scenarios.complete) facts.push([`${r.label}: reset completion tokens`, `${l.scenarios.complete.verification.tokensUsed} of ${l.scenarios.complete.verification.tokensAvailable} single-use tokens used`]);
    if (l.walLargestBytes !== null) facts.push([`${r.label}: largest write-ahead log`, `${fmt(l.walLargestBytes / 2 ** 20, 1)} MiB (${l.walLargestBytes} bytes), sampled every 100 ms from server start to stop`]);
  }
  if (growth) {
    facts.push([
      'SQLite: bytes kept per anonymous reset request',
      `${fmt(growth.bytesPerRequest)} as stored (${growth.requests} requests for unknown addresses, acted on by the worker); ${fmt(growth.bytesPerRequestAfterRetention)} after ${growth.retentionDays} days (LATCHKEY_RETENTION_ANONYMOUS_DAYS)`,
    ]);
  }
  for (const figures of imports) {
    facts.push([`${figures.database}: users import`, `${IMPORT_USERS.toLocaleString('en-US')} users from CSV (hashes of four formats kept as given, none computed) in ${fmt(figures.seconds, 1)} s, the built command line from start to exit: ${fmt(figures.usersPerSecond)} users/s`]);
  }
  if (peer) facts.push(['Better Auth peer', `${peer.users} users; ${peer.reset.mails} reset mails captured for ${peer.reset.completed} responses`]);

  const notes: string[] = [];
  const noise = Math.max(background, peer?.backgroundCores ?? 0, ...runs.flatMap((r) => Object.values(r.latchkey.scenarios).map((s) => s.otherProcessesCores)));
  const noisy = noise > 0.25;
  if (noisy) {
    notes.push(`WARNING: the machine was busy with other work (other processes used up to ${fmt(noise, 2)} cores during a scenario or just before; ${fmt(background, 2)} before Latchkey${peer ? `, ${fmt(peer.backgroundCores, 2)} before the peer` : ''}): the figures are not reliable; run again on a quiet machine.`);
  }
  const header = `Latchkey bench — ${startedAt.toISOString()} — ${quick ? 'quick' : 'normal'} mode, ${settings.duration} s per scenario, ${CONNECTIONS} connections, ${CORES} cores (${os.cpus()[0]?.model.trim() ?? 'cpu'}), Node ${process.version}; rate limits off`;
  process.stdout.write(formatReport({ header, runs, peer, targets, facts, directory, notes, checks }));

  const failed = checks.filter((c) => !c.ok);
  const result = {
    generatedAt: startedAt.toISOString(),
    wallSeconds: (performance.now() - wall) / 1000,
    mode: quick ? 'quick' : 'normal',
    durationSeconds: settings.duration,
    connections: CONNECTIONS,
    rateLimits: 'off',
    postgres: cluster ? { durable: true, instancesSpread: 'autocannon round-robin over the instances\' URLs, 5 connections each' } : null,
    machine: { node: process.version, cores: CORES, cpu: os.cpus()[0]?.model.trim() ?? null, platform: `${os.platform()} ${os.release()}`, memoryMiB: Math.round(os.totalmem() / 2 ** 20), loadAverageAtStart: loadBefore, loadAverageAtEnd: os.loadavg(), backgroundCoresBeforeLatchkey: background, busyWithOtherWork: noisy },
    argon2id: hashing,
    loadGeneratorCpuSeconds: (benchCpu.user + benchCpu.system) / 1e6,
    databases: runs,
    directory,
    growth,
    imports,
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
