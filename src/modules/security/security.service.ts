// The Security view and its alerts: a week of activity by hour, its top sources and targets, the database's
// size; rules checked every minute that raise alerts (an audit event, a console banner, a mail an hour at most).
import type { AlertSettings } from '../../config.ts';
import type { Clock } from '../../infra/clock.ts';
import { newOrderedId } from '../../infra/crypto.ts';
import { databaseSizeOf, onOneInstance, type Db, type Tx } from '../../infra/db.ts';
import { NotFoundError } from '../../infra/errors.ts';
import type { Logger } from '../../infra/logger.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { distinctIpv6Addresses, type AuditFilter } from '../audit/audit.repo.ts';
import type { Outbox } from '../mail/outbox.ts';
import { emailsByIds, listUsers } from '../users/users.repo.ts';
import {
  accountsAskedBy,
  countsByType,
  HOUR_MS,
  hourlyCounts,
  ipv4Networks,
  ipv6Sources,
  sprayingAddresses,
  targetedAddresses,
  topAddresses,
  type SourceCount,
  type TargetCount,
} from '../audit/activity.repo.ts';
import {
  acknowledgeAlert,
  alertsSince,
  insertAlert,
  latestSizeSampleAt,
  openAlerts,
  raisedSince,
  recordSizeSample,
  sizeSamplesSince,
  takeMailTurn,
  type SecurityAlert,
} from './alerts.repo.ts';
import { ALERT_TITLES, failedLoginSurge, mailFailures, median, resetSurge, spraying, targetedAccount, type AlertKind, type Finding } from './alerts.ts';
import { auditQuery } from './links.ts';
import { networkOf, type Network } from './networks.ts';

/** A reset request as the audit log has it: acted on (with or without an account) or over the hourly limit. */
export const RESET_TYPES = ['reset.requested', 'reset.throttled'] as const;
export const LINK_TYPES = ['reset.link_opened', 'reset.link_used', 'reset.link_refused'] as const;
export const THROTTLED_TYPES = ['reset.throttled', 'login.throttled'] as const;
export const MAIL_FAILURE_TYPES = ['mail.retrying', 'mail.failed'] as const;
const MAIL_OUTCOME_TYPES = ['mail.sent', ...MAIL_FAILURE_TYPES] as const;
const CHART_TYPES = [...new Set([...RESET_TYPES, ...LINK_TYPES, 'login.failed', 'two_step.failed', ...THROTTLED_TYPES, ...MAIL_FAILURE_TYPES])];

export const WEEK_HOURS = 168;
const TOP = 10;
/** IPv6 addresses read to gather them into /64 networks; past this the networks list counts only the busiest. */
const IPV6_CAP = 50_000;

/** The alert chore's own name in the audit log and on the mails it queues. */
const WATCH: Actor = { ip: null, userAgent: 'latchkey security alerts' };

export interface NetworkCount {
  network: string;
  requests: number;
  ips: number;
  accounts: number;
}

export interface Overview {
  now: number;
  /** The first hour shown (whole hours since the epoch); the chart runs WEEK_HOURS hours from it. */
  firstHour: number;
  /** Count per event type (and for reset.requested, per known/unknown) per hour. */
  hourly: Map<string, number[]>;
  totals: { requests: number; unknown: number };
  topAddresses: SourceCount[];
  topNetworks: NetworkCount[];
  topTargets: TargetCount[];
  database: { bytes: number; samples: Array<{ at: number; bytes: number }> };
  openAlerts: SecurityAlert[];
  recentAlerts: SecurityAlert[];
  /** The email of each administrator who acknowledged one of recentAlerts, by user id. */
  acknowledgedBy: Map<string, string>;
}

/** The series key of reset.requested for unknown addresses (the others are their event type). */
export const UNKNOWN_RESETS = 'reset.requested:unknown';

/**
 * Raises what rules found, in the caller's transaction: an alert of a kind about a subject once an hour at most,
 * each with an audit event; administrators are mailed about a kind once an hour at most. Returns the alerts raised.
 */
export async function raiseAlerts(trx: Tx, outbox: Outbox, now: number, findings: Finding[]): Promise<SecurityAlert[]> {
  const raised: SecurityAlert[] = [];
  for (const finding of findings) {
    if (await raisedSince(trx, finding.kind, finding.subject, now - HOUR_MS)) continue;
    const alert: SecurityAlert = {
      id: newOrderedId(),
      kind: finding.kind,
      subject: finding.subject,
      raised_at: now,
      summary: finding.summary,
      detail: JSON.stringify({ audit: finding.audit, ...finding.figures }),
      acknowledged_at: null,
      acknowledged_by: null,
    };
    await insertAlert(trx, alert);
    await recordAudit(trx, now, WATCH, {
      type: 'security.alert',
      email: finding.kind === 'targeted_account' || finding.kind === 'reset_undeliverable' ? finding.subject : null,
      detail: { alert: alert.id, kind: finding.kind, summary: finding.summary },
    });
    raised.push(alert);
  }
  const kinds = [...new Set(raised.map((alert) => alert.kind as AlertKind))];
  for (const kind of kinds) {
    if (!(await takeMailTurn(trx, kind, now, HOUR_MS))) continue;
    const { rows: admins } = await listUsers(trx, { filters: ['admins', 'active'], limit: 1000 }, now);
    const alerts = raised.filter((alert) => alert.kind === kind).map((alert) => ({ summary: alert.summary, at: alert.raised_at }));
    await outbox.enqueueMany(
      trx,
      admins.map((admin) => ({ actor: WATCH, queued: { to: admin.email, userId: admin.id, mail: { template: 'security_alert', params: { title: ALERT_TITLES[kind](), alerts } } } })),
    );
  }
  return raised;
}

export class Security {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** The usual hour of the last 7 days, worked out once per clock hour. */
  private usual: { hour: number; resets: number; failedLogins: number } | null = null;

  constructor(
    private readonly db: Db,
    /** Where the long reads go (infra/report-reader.ts): off the server's thread on SQLite. */
    private readonly reads: Db,
    private readonly clock: Clock,
    private readonly outbox: Outbox,
    private readonly logger: Logger,
    private readonly settings: AlertSettings,
  ) {}

  /** Everything the Security page shows, for the 7 days up to now. */
  async overview(): Promise<Overview> {
    const now = this.clock.now();
    const lastHour = Math.floor(now / HOUR_MS);
    const firstHour = lastHour - WEEK_HOURS + 1;
    const from = firstHour * HOUR_MS;
    const to = (lastHour + 1) * HOUR_MS;
    const hourly = new Map<string, number[]>();
    const series = (key: string) => {
      let values = hourly.get(key);
      if (!values) hourly.set(key, (values = new Array<number>(WEEK_HOURS).fill(0)));
      return values;
    };
    let requests = 0;
    let unknown = 0;
    for (const row of await hourlyCounts(this.reads, CHART_TYPES, from, to)) {
      const key = row.type === 'reset.requested' && row.unknown === 1 ? UNKNOWN_RESETS : row.type;
      series(key)[row.hour - firstHour]! += row.n;
      if ((RESET_TYPES as readonly string[]).includes(row.type)) requests += row.n;
      if (key === UNKNOWN_RESETS) unknown += row.n;
    }
    for (const type of [...CHART_TYPES, UNKNOWN_RESETS]) series(type);
    const [addresses, networks, targets, bytes, samples, open, recent] = await Promise.all([
      topAddresses(this.reads, RESET_TYPES, from, to, TOP),
      this.topNetworks(from, to),
      targetedAddresses(this.reads, RESET_TYPES, from, to, { limit: TOP }),
      databaseSizeOf(this.db),
      sizeSamplesSince(this.reads, from),
      openAlerts(this.db, 100),
      alertsSince(this.db, now - 7 * 24 * HOUR_MS, 100),
    ]);
    const acknowledged = recent.filter((alert) => alert.acknowledged_at !== null);
    const acknowledgedBy = await emailsByIds(this.db, acknowledged.flatMap((alert) => (alert.acknowledged_by ? [alert.acknowledged_by] : [])));
    return {
      now,
      firstHour,
      hourly,
      totals: { requests, unknown },
      topAddresses: addresses,
      topNetworks: networks,
      topTargets: targets,
      database: { bytes, samples },
      openAlerts: open,
      recentAlerts: acknowledged,
      acknowledgedBy,
    };
  }

  /** The networks (IPv4 /24, IPv6 /64) that sent the most reset requests. */
  private async topNetworks(from: number, to: number): Promise<NetworkCount[]> {
    const gathered = await this.gatherNetworks(from, to, TOP, 0);
    const top = gathered.sort((a, b) => b.requests - a.requests || a.network.localeCompare(b.network)).slice(0, TOP);
    for (const network of top) {
      if (network.addresses.length > 1) network.accounts = await accountsAskedBy(this.reads, RESET_TYPES, from, to, network.addresses);
    }
    return top.map(({ network, requests, ips, accounts }) => ({ network, requests, ips, accounts }));
  }

  /**
   * IPv4 /24s counted by the database; IPv6 addresses gathered here into their /64s, with the sum of their
   * different addresses asked for (an upper bound: `addresses` lets a caller count them exactly).
   */
  private async gatherNetworks(from: number, to: number, limit: number, minAccounts: number) {
    const networks = new Map<string, NetworkCount & { addresses: string[] }>();
    for (const row of await ipv4Networks(this.reads, RESET_TYPES, from, to, { limit, minAccounts })) {
      if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.$/.test(row.prefix)) continue;
      networks.set(`${row.prefix}0/24`, { network: `${row.prefix}0/24`, requests: row.requests, ips: row.ips, accounts: row.accounts, addresses: [] });
    }
    for (const source of await ipv6Sources(this.reads, RESET_TYPES, from, to, IPV6_CAP)) {
      const network = networkOf(source.ip);
      if (!network) continue;
      const entry = networks.get(network) ?? { network, requests: 0, ips: 0, accounts: 0, addresses: [] };
      entry.requests += source.requests;
      entry.ips += 1;
      entry.accounts += source.accounts;
      entry.addresses.push(source.ip);
      networks.set(network, entry);
    }
    return [...networks.values()];
  }

  /**
   * Checks every rule over the last hour and raises what it finds: an alert row and an audit event each, and
   * one mail per kind to every active administrator at most once an hour. The writes run on one instance at
   * a time, and an alert of a kind about a subject is raised once an hour at most. Returns the alerts raised.
   */
  async checkAlerts(): Promise<SecurityAlert[]> {
    const now = this.clock.now();
    const findings = await this.findings(now);
    const hourStart = Math.floor(now / HOUR_MS) * HOUR_MS;
    const sampleDue = ((await latestSizeSampleAt(this.db)) ?? -1) < hourStart;
    const bytes = sampleDue ? await databaseSizeOf(this.db) : 0;
    if (findings.length === 0 && !sampleDue) return [];
    let raised: SecurityAlert[] = [];
    await onOneInstance(this.db, 'security-alerts', async (trx) => {
      if (sampleDue) await recordSizeSample(trx, hourStart, bytes, now - 30 * 24 * HOUR_MS);
      raised = await raiseAlerts(trx, this.outbox, now, findings);
    });
    return raised;
  }

  /** What the rules see in the hour up to `now`. */
  private async findings(now: number): Promise<Finding[]> {
    const s = this.settings;
    const from = now - HOUR_MS;
    const to = now + 1;
    const link = (filter: { types: readonly string[]; ip?: string; user?: string }) => auditQuery({ ...filter, from, to });
    const counts = await countsByType(this.reads, [...RESET_TYPES, 'login.failed', ...MAIL_OUTCOME_TYPES], from, to);
    const count = (types: readonly string[]) => types.reduce((sum, type) => sum + (counts.get(type) ?? 0), 0);
    const usual = await this.usualHour(now);
    const findings: Array<Finding | null> = [
      resetSurge(count(RESET_TYPES), usual.resets, s, link({ types: RESET_TYPES })),
      failedLoginSurge(count(['login.failed']), usual.failedLogins, s, link({ types: ['login.failed'] })),
      mailFailures(count(MAIL_FAILURE_TYPES), count(MAIL_OUTCOME_TYPES), s, link({ types: MAIL_FAILURE_TYPES })),
    ];

    const addresses = await sprayingAddresses(this.reads, RESET_TYPES, from, to, s.sprayAccounts);
    for (const source of addresses) findings.push(spraying(source, link({ types: RESET_TYPES, ip: source.ip })));
    // A network whose spraying one address already shows is not raised again.
    const covered = new Set(addresses.map((source) => networkOf(source.ip)));
    for (const network of await this.gatherNetworks(from, to, 100, s.sprayAccounts)) {
      if (covered.has(network.network) || network.accounts < s.sprayAccounts) continue;
      const accounts = network.addresses.length > 1 ? await accountsAskedBy(this.reads, RESET_TYPES, from, to, network.addresses) : network.accounts;
      if (accounts < s.sprayAccounts) continue;
      findings.push(spraying({ network: network.network, requests: network.requests, accounts }, link({ types: RESET_TYPES, ip: network.network })));
    }

    for (const target of await targetedAddresses(this.reads, RESET_TYPES, from, to, { limit: 100, minIps: s.targetedIps })) {
      findings.push(targetedAccount(target, link({ types: RESET_TYPES, user: target.email })));
    }
    return findings.filter((finding): finding is Finding => finding !== null);
  }

  /** The median hour of the 7 days before this clock hour, for reset requests and failed logins. */
  private async usualHour(now: number): Promise<{ resets: number; failedLogins: number }> {
    const hour = Math.floor(now / HOUR_MS);
    if (this.usual?.hour === hour) return this.usual;
    const firstHour = hour - WEEK_HOURS;
    const resets = new Array<number>(WEEK_HOURS).fill(0);
    const failedLogins = new Array<number>(WEEK_HOURS).fill(0);
    for (const row of await hourlyCounts(this.reads, [...RESET_TYPES, 'login.failed'], firstHour * HOUR_MS, hour * HOUR_MS)) {
      (row.type === 'login.failed' ? failedLogins : resets)[row.hour - firstHour]! += row.n;
    }
    this.usual = { hour, resets: median(resets), failedLogins: median(failedLogins) };
    return this.usual;
  }

  /** Open alerts, newest first (for the console's banner). */
  openAlerts(limit = 20): Promise<SecurityAlert[]> {
    return openAlerts(this.db, limit);
  }

  /** An administrator has seen the alert: it leaves the banner; the audit log says who and when. */
  async acknowledge(id: string, actor: Actor & { userId: string }): Promise<SecurityAlert> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const alert = await acknowledgeAlert(trx, id.slice(0, 64), actor.userId, now);
      if (!alert) throw new NotFoundError('There is no such open alert: it may have been acknowledged already.');
      await recordAudit(trx, now, actor, { type: 'security.alert_acknowledged', detail: { alert: alert.id, kind: alert.kind, summary: alert.summary } });
      return alert;
    });
  }

  /** How the Audit Log finds a network's events: IPv4 by text prefix, IPv6 by the addresses recorded in its /64. */
  async addressesIn(network: Network, filter: AuditFilter): Promise<{ ipPrefixes: string[] } | { ips: string[] }> {
    if (network.family === 4) return { ipPrefixes: [network.prefix, `::ffff:${network.prefix}`] };
    const recorded = await distinctIpv6Addresses(this.reads, filter, IPV6_CAP);
    return { ips: recorded.filter((ip) => networkOf(ip) === network.cidr) };
  }

  /** Checks the rules every LATCHKEY_ALERT_INTERVAL seconds until stop(). */
  start(): void {
    if (this.timer || this.settings.intervalSeconds === 0) return;
    const tick = () => {
      this.running = this.checkAlerts()
        .catch((error: unknown) => this.logger.error({ err: error }, 'security alert check failed'))
        .finally(() => {
          this.running = null;
        });
    };
    this.timer = setInterval(() => {
      if (!this.running) tick();
    }, this.settings.intervalSeconds * 1000);
    this.timer.unref();
    tick();
  }

  /** Stops the checks and waits for one under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

