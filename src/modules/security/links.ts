// The Audit Log's filters as links: every figure of the Security view opens the events behind it.

export interface AuditLinkFilter {
  types: readonly string[];
  /** An IP address or a network ("203.0.113.0/24"). */
  ip?: string;
  /** An email address. */
  user?: string;
  account?: 'known' | 'unknown';
  from: number;
  to: number;
}

/** "2026-01-31T14:05": a time the Audit Log's From and To read as UTC, to the minute. */
export function minuteOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}

/** The query string of the Audit Log that shows these events; the range is rounded out to whole minutes. */
export function auditQuery(filter: AuditLinkFilter): string {
  const params = new URLSearchParams();
  if (filter.user) params.set('user', filter.user);
  params.set('type', filter.types.join(','));
  if (filter.account) params.set('account', filter.account);
  if (filter.ip) params.set('ip', filter.ip);
  params.set('from', minuteOf(Math.floor(filter.from / 60_000) * 60_000));
  params.set('to', minuteOf(Math.ceil(filter.to / 60_000) * 60_000));
  return params.toString();
}

export function auditHref(filter: AuditLinkFilter): string {
  return `/admin/audit?${auditQuery(filter)}`;
}
