// Counts over the audit log for the Security view and its alert rules (read only, by type and time on the
// audit_events_activity index): the audit module owns audit_events, so its SQL lives here. Hours are whole
// numbers: at / 3600000.
import { sql } from 'kysely';
import type { Executor } from '../../infra/db.ts';

export const HOUR_MS = 3_600_000;

/** Events by type, clock hour and whether they concern an account, for the charts. */
export interface HourlyCount {
  type: string;
  hour: number;
  /** 1 when the event has no account (an unknown address), else 0. */
  unknown: number;
  n: number;
}

export async function hourlyCounts(db: Executor, types: readonly string[], from: number, to: number): Promise<HourlyCount[]> {
  const { rows } = await sql<HourlyCount>`
    select type, at / 3600000 as hour, case when user_id is null then 1 else 0 end as unknown, count(*) as n
    from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to}
    group by type, at / 3600000, case when user_id is null then 1 else 0 end`.execute(db);
  return rows.map((row) => ({ type: row.type, hour: Number(row.hour), unknown: Number(row.unknown), n: Number(row.n) }));
}

/** Events by type in a time range. */
export async function countsByType(db: Executor, types: readonly string[], from: number, to: number): Promise<Map<string, number>> {
  const { rows } = await sql<{ type: string; n: number }>`
    select type, count(*) as n from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to}
    group by type`.execute(db);
  return new Map(rows.map((row) => [row.type, Number(row.n)]));
}

/** Requests from one source: how many, for how many different addresses, how many of those for nobody's. */
export interface SourceCount {
  ip: string;
  requests: number;
  accounts: number;
  unknown: number;
}

/** These events in the range, counted per source address (SourceCount); the callers add having, order and limit. */
function perSource(types: readonly string[], from: number, to: number) {
  return sql`
    select ip, count(*) as requests, count(distinct email) as accounts, sum(case when user_id is null then 1 else 0 end) as unknown
    from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to} and ip is not null
    group by ip`;
}

/** The IP addresses that sent the most of these events (ties by address). */
export async function topAddresses(db: Executor, types: readonly string[], from: number, to: number, limit: number): Promise<SourceCount[]> {
  const { rows } = await sql<SourceCount>`${perSource(types, from, to)}
    order by count(*) desc, ip
    limit ${limit}`.execute(db);
  return rows.map(numbers);
}

/** Addresses that asked for at least `minAccounts` different addresses in the range (spraying). */
export async function sprayingAddresses(db: Executor, types: readonly string[], from: number, to: number, minAccounts: number): Promise<SourceCount[]> {
  const { rows } = await sql<SourceCount>`${perSource(types, from, to)}
    having count(distinct email) >= ${minAccounts}
    order by count(distinct email) desc, ip
    limit 100`.execute(db);
  return rows.map(numbers);
}

/** Requests from the /24 of an IPv4 address ("203.0.113." as the key). */
export interface NetworkCount {
  prefix: string;
  requests: number;
  ips: number;
  accounts: number;
}

/**
 * IPv4 /24 networks with their counts, most requests first. The /24 of "203.0.113.9" is its text without the
 * last number (rtrim of the digits, on both databases). IPv6 /64s are gathered in code (ipv6Sources).
 */
export async function ipv4Networks(
  db: Executor,
  types: readonly string[],
  from: number,
  to: number,
  options: { limit: number; minAccounts?: number },
): Promise<NetworkCount[]> {
  const { rows } = await sql<NetworkCount>`
    select rtrim(ip, '0123456789') as prefix, count(*) as requests, count(distinct ip) as ips, count(distinct email) as accounts
    from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to} and ip is not null and ip not like '%:%'
    group by rtrim(ip, '0123456789')
    having count(distinct email) >= ${options.minAccounts ?? 0}
    order by count(*) desc, rtrim(ip, '0123456789')
    limit ${options.limit}`.execute(db);
  return rows.map((row) => ({ prefix: row.prefix, requests: Number(row.requests), ips: Number(row.ips), accounts: Number(row.accounts) }));
}

/** Every IPv6 address among these events with its counts (the text of a /64 varies, so code groups them). */
export async function ipv6Sources(db: Executor, types: readonly string[], from: number, to: number, cap: number): Promise<SourceCount[]> {
  const { rows } = await sql<SourceCount>`
    select ip, count(*) as requests, count(distinct email) as accounts, sum(case when user_id is null then 1 else 0 end) as unknown
    from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to} and ip like '%:%'
    group by ip
    order by count(*) desc
    limit ${cap}`.execute(db);
  return rows.map(numbers);
}

/** How many different addresses these IP addresses asked for, together. */
export async function accountsAskedBy(db: Executor, types: readonly string[], from: number, to: number, ips: string[]): Promise<number> {
  if (ips.length === 0) return 0;
  const { rows } = await sql<{ n: number }>`
    select count(distinct email) as n from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to} and ip in (${sql.join(ips)})`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** An address asked for: how often, from how many IP addresses, and its account if it has one. */
export interface TargetCount {
  email: string;
  userId: string | null;
  requests: number;
  ips: number;
}

/** The addresses asked for most, or those asked for from at least `minIps` IP addresses. */
export async function targetedAddresses(
  db: Executor,
  types: readonly string[],
  from: number,
  to: number,
  options: { limit: number; minIps?: number },
): Promise<TargetCount[]> {
  const order = options.minIps ? sql`count(distinct ip) desc` : sql`count(*) desc`;
  const { rows } = await sql<{ email: string; user_id: string | null; requests: number; ips: number }>`
    select email, max(user_id) as user_id, count(*) as requests, count(distinct ip) as ips
    from audit_events
    where type in (${sql.join(types)}) and at >= ${from} and at < ${to} and email is not null
    group by email
    having count(distinct ip) >= ${options.minIps ?? 0}
    order by ${order}, email
    limit ${options.limit}`.execute(db);
  return rows.map((row) => ({ email: row.email, userId: row.user_id, requests: Number(row.requests), ips: Number(row.ips) }));
}

function numbers(row: SourceCount): SourceCount {
  return { ip: row.ip, requests: Number(row.requests), accounts: Number(row.accounts), unknown: Number(row.unknown) };
}
