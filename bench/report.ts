// The printed report of `npm run bench`: the scenarios side by side per database and the peer, targets, figures.
import type { DirectoryFigures } from './directory.ts';
import type { MailFigures } from './mail.ts';
import type { BenchResult } from './peer.ts';
import type { ProfileSummary } from './cpu-profile.ts';
import { CONNECTIONS, SCENARIOS, type Check, type OidcReport, type Scenario, type ScenarioReport } from './scenarios.ts';

export interface DatabaseRun {
  name: string;
  label: string;
  instances: number;
  latchkey: {
    users: Record<string, number>;
    seedMs: number;
    linkIssueMs: number;
    memoryMiB: { afterStart: number; afterRuns: number; peak: number };
    scenarios: Partial<Record<Scenario, ScenarioReport>>;
    oidc: OidcReport | null;
    walLargestBytes: number | null;
    profile: { file: string; summary: ProfileSummary } | null;
  };
  mail: MailFigures | null;
}

export interface Target { name: string; goal: string; value: number | undefined; shown: string; pass: boolean | null }

export interface ReportInput {
  header: string;
  runs: DatabaseRun[];
  peer: { users: number; backgroundCores: number; reset: BenchResult & { mails: number }; login: BenchResult } | null;
  targets: Target[];
  facts: string[][];
  directory: DirectoryFigures | null;
  notes: string[];
  checks: Check[];
}

export const fmt = (n: number | undefined | null, digits = 0) => (n === undefined || n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));

export function table(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const SCENARIO_LABELS: Record<Scenario, string> = {
  reset: 'reset request',
  link: 'reset link page',
  complete: 'reset completion',
  login: 'login',
  'api-reset': 'API reset request',
  'api-search': 'API users search',
};
const MEASURED = SCENARIOS.filter((name): name is Scenario => name !== 'oidc');

/** The main table: scenario × (each database, the peer), req/s and p99 per cell; then the reset ratio and mail/s. */
function sideBySide(input: ReportInput): string {
  const { runs, peer } = input;
  const cell = (rps: number | undefined, p99: number | undefined) => (rps === undefined ? '–' : `${fmt(rps, 0)}/s, p99 ${fmt(p99)} ms`);
  const headers = ['scenario', ...runs.map((r) => r.label), ...(peer ? ['Better Auth peer'] : [])];
  const rows: string[][] = [];
  for (const name of MEASURED) {
    if (!runs.some((r) => r.latchkey.scenarios[name])) continue;
    const peerResult = name === 'reset' ? peer?.reset : name === 'login' ? peer?.login : undefined;
    rows.push([
      SCENARIO_LABELS[name],
      ...runs.map((r) => cell(r.latchkey.scenarios[name]?.load.requestsPerSecond, r.latchkey.scenarios[name]?.load.p99)),
      ...(peer ? [cell(peerResult?.requestsPerSecond, peerResult?.p99)] : []),
    ]);
  }
  if (runs.some((r) => r.latchkey.oidc)) {
    const none = peer ? ['–'] : [];
    rows.push(['token: code exchange', ...runs.map((r) => cell(r.latchkey.oidc?.codeExchange.load.requestsPerSecond, r.latchkey.oidc?.codeExchange.load.p99)), ...none]);
    rows.push(['token: refresh', ...runs.map((r) => cell(r.latchkey.oidc?.refresh.load.requestsPerSecond, r.latchkey.oidc?.refresh.load.p99)), ...none]);
    rows.push(['sign-ins (authorization code flows)', ...runs.map((r) => (r.latchkey.oidc ? `${fmt(r.latchkey.oidc.signInsPerSecond, 0)}/s` : '–')), ...none]);
    rows.push([
      'server RSS after the sign-ins',
      ...runs.map((r) => (r.latchkey.oidc ? `${fmt(r.latchkey.oidc.memoryMiB.afterSignIns, 1)} MB after ${r.latchkey.oidc.signIns.toLocaleString('en-US')}` : '–')),
      ...none,
    ]);
  }
  if (runs.some((r) => r.latchkey.scenarios.reset?.byAddress)) {
    const byAddress = (r: DatabaseRun) => r.latchkey.scenarios.reset?.byAddress;
    rows.push(['reset request, unknown addresses', ...runs.map((r) => cell(byAddress(r)?.unknown.load.requestsPerSecond, byAddress(r)?.unknown.load.p99)), ...(peer ? ['–'] : [])]);
    rows.push([
      `reset, known vs unknown: KS D`,
      ...runs.map((r) => {
        const ks = byAddress(r)?.interleaved.ks;
        return ks ? `${fmt(ks.d, 3)} (critical ${fmt(ks.critical, 3)})` : '–';
      }),
      ...(peer ? ['–'] : []),
    ]);
  }
  if (peer && runs.some((r) => r.latchkey.scenarios.reset)) {
    rows.push([
      'reset requests ÷ peer',
      ...runs.map((r) => (r.latchkey.scenarios.reset ? `${fmt(r.latchkey.scenarios.reset.load.requestsPerSecond / peer.reset.requestsPerSecond, 2)}×` : '–')),
      '1.00×',
    ]);
  }
  if (runs.some((r) => r.mail)) rows.push(['mail to an SMTP sink', ...runs.map((r) => (r.mail ? `${fmt(r.mail.mailsPerSecond, 0)} mails/s` : '–')), ...(peer ? ['–'] : [])]);
  const sqlite = runs.find((r) => r.latchkey.walLargestBytes !== null);
  if (sqlite) rows.push(['largest SQLite WAL', ...runs.map((r) => (r.latchkey.walLargestBytes === null ? '–' : `${fmt(r.latchkey.walLargestBytes / 2 ** 20, 1)} MiB`)), ...(peer ? ['–'] : [])]);
  return table(headers, rows);
}

export function formatReport(input: ReportInput): string {
  const { runs, peer } = input;
  const out: string[] = ['', input.header, ''];
  out.push(sideBySide(input));
  out.push('');

  const rows: string[][] = [];
  const okCell = (ok: number, total: number) => `${ok}/${total}`;
  const scenarioRow = (run: DatabaseRun, r: ScenarioReport) => [
    `${run.label} ${r.label}`,
    fmt(r.load.requestsPerSecond, 1),
    fmt(r.load.p50),
    fmt(r.load.p99),
    okCell(r.load.ok, r.load.completed),
    String(r.load.completed - r.load.ok + r.load.errors),
    `${fmt(r.cpuMsPerRequest.main, 2)} + ${fmt(r.cpuMsPerRequest.other, 2)}`,
    `${fmt(r.mainThreadBusy * 100)}%`,
    fmt(r.otherProcessesCores, 2),
  ];
  for (const run of runs) {
    for (const name of MEASURED) {
      const r = run.latchkey.scenarios[name];
      if (!r) continue;
      rows.push(scenarioRow(run, r));
      if (r.byAddress) rows.push(scenarioRow(run, r.byAddress.unknown));
    }
    if (run.latchkey.oidc) rows.push(scenarioRow(run, run.latchkey.oidc.codeExchange), scenarioRow(run, run.latchkey.oidc.refresh));
  }
  const peerRow = (label: string, r: BenchResult) => [
    `Better Auth ${label}`, fmt(r.requestsPerSecond, 1), fmt(r.p50), fmt(r.p99), okCell(r.completed - r.non2xx, r.completed), String(r.non2xx + r.errors), '', '', '',
  ];
  if (peer) rows.push(peerRow('reset request', peer.reset), peerRow('login', peer.login));
  if (rows.length > 0) out.push(table(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'ok/total', 'other', 'server CPU ms/req (main + pool)', 'main threads busy', 'other procs (cores)'], rows, [1, 2, 3, 4, 5, 7, 8]), '');
  out.push(table(['target', 'measured', 'goal', 'result'], input.targets.map((t) => [t.name, t.shown, t.goal, t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'MISS'])));
  out.push('');
  out.push(table(['figure', 'value'], input.facts));
  out.push('');

  const mailRuns = runs.filter((r) => r.mail);
  if (mailRuns.length > 0) {
    out.push(`Mail throughput: ${mailRuns[0]!.mail!.requests} reset requests at ${CONNECTIONS} connections, delivered through SMTP to a local sink`);
    out.push(
      table(
        ['database', 'mails/s', 'request → accepted p50 ms', 'request → accepted p99 ms', 'HTTP answer p50 ms', 'HTTP answer p99 ms', 'delivered', 'duplicates'],
        mailRuns.map(({ label, mail }) => [label, fmt(mail!.mailsPerSecond, 1), fmt(mail!.acceptedP50, 1), fmt(mail!.acceptedP99, 1), fmt(mail!.responseP50, 1), fmt(mail!.responseP99, 1), `${mail!.delivered}/${mail!.requests}`, String(mail!.duplicates)]),
        [1, 2, 3, 4, 5, 6, 7],
      ),
    );
    out.push('');
  }
  const { directory } = input;
  if (directory) {
    out.push(`Directory (SQLite): /admin/users with ${directory.users.toLocaleString('en-US')} users (seeded in ${fmt(directory.seedSeconds, 1)} s), ${Object.values(directory.scenarios)[0]?.requests ?? 0} requests each, one at a time`);
    out.push(table(['view', 'p50 ms', 'p95 ms', 'matches'], Object.entries(directory.scenarios).map(([name, f]) => [name, fmt(f.p50, 1), fmt(f.p95, 1), f.matches]), [1, 2, 3]));
    out.push('');
  }
  for (const note of input.notes) out.push(note);
  if (input.notes.length > 0) out.push('');
  const failed = input.checks.filter((c) => !c.ok);
  out.push(failed.length === 0 ? `checks: all ${input.checks.length} passed (responses as expected, rows and mails really written)` : `checks: ${failed.length} of ${input.checks.length} FAILED`);
  for (const c of failed) out.push(`  FAILED ${c.name}: ${c.detail}`);
  const profiles = runs.flatMap((run) => [
    { title: `${run.label} HTTP scenarios`, kept: run.latchkey.profile, instances: run.instances },
    { title: `${run.label} mail throughput`, kept: run.mail?.profile ?? null, instances: run.instances },
  ]);
  for (const { title, kept, instances } of profiles) {
    if (!kept) continue;
    const p = kept.summary;
    out.push('');
    out.push(`${title}: server CPU profile (${kept.file}${instances > 1 ? ', one of the instances' : ''}): main thread busy ${fmt(p.busyMs)} ms, idle ${fmt(p.idleMs)} ms`);
    out.push(table(['area', 'self ms', 'share'], p.areas.slice(0, 12).map((a) => [a.area, fmt(a.selfMs), `${fmt(a.share * 100, 1)}%`]), [1, 2]));
    out.push('');
    out.push(table(['function', 'where', 'self ms', 'share'], p.functions.map((f) => [f.name, f.where, fmt(f.selfMs), `${fmt(f.share * 100, 1)}%`]), [2, 3]));
  }
  out.push('');
  return out.join('\n') + '\n';
}
