// The Security page: alerts with "Acknowledge", a week of activity by hour as charts with their numbers, the
// top sources and targets of reset requests, the database's size; and the console's banner for open alerts.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField, when } from '../../views/components.ts';
import { ALERT_TITLES, type AlertKind } from './alerts.ts';
import { hourlyBarChart, legend, type Series } from './charts.ts';
import { auditHref, type AuditLinkFilter } from './links.ts';
import type { SecurityAlert } from './alerts.repo.ts';
import { RESET_TYPES, UNKNOWN_RESETS, WEEK_HOURS, type Overview } from './security.service.ts';

const HOUR_MS = 3_600_000;

/** One figure of a chart: the events it counts, as the Audit Log filters them. */
interface Figure {
  label: string;
  color: string;
  /** The series' key in Overview.hourly. */
  key: string;
  types: readonly string[];
  account?: 'known' | 'unknown';
}

interface Chart {
  id: string;
  title: string;
  figures: Figure[];
}

// Fills with at least 3:1 contrast against white, told apart by more than hue.
const BLUE = '#2456c9';
const ORANGE = '#b35c00';
const GREY = '#5b6475';
const GREEN = '#1b7a3a';
const RED = '#b3261e';

const CHARTS: Chart[] = [
  {
    id: 'resets',
    title: 'Reset requests',
    figures: [
      { label: 'For an account', color: BLUE, key: 'reset.requested', types: ['reset.requested'], account: 'known' },
      { label: 'For an address without an account', color: ORANGE, key: UNKNOWN_RESETS, types: ['reset.requested'], account: 'unknown' },
      { label: 'Over the hourly limit (no mail)', color: GREY, key: 'reset.throttled', types: ['reset.throttled'] },
    ],
  },
  {
    id: 'links',
    title: 'Reset links',
    figures: [
      { label: 'Opened', color: BLUE, key: 'reset.link_opened', types: ['reset.link_opened'] },
      { label: 'Used', color: GREEN, key: 'reset.link_used', types: ['reset.link_used'] },
      { label: 'Refused', color: RED, key: 'reset.link_refused', types: ['reset.link_refused'] },
    ],
  },
  {
    id: 'failed-logins',
    title: 'Failed logins',
    figures: [{ label: 'Failed logins', color: RED, key: 'login.failed', types: ['login.failed'] }],
  },
  {
    id: 'failed-second-steps',
    title: 'Failed second steps',
    figures: [{ label: 'Wrong codes after a correct password', color: RED, key: 'two_step.failed', types: ['two_step.failed'] }],
  },
  {
    id: 'throttled',
    title: 'Throttled requests',
    figures: [
      { label: 'Reset requests over the hourly limit', color: GREY, key: 'reset.throttled', types: ['reset.throttled'] },
      { label: 'Logins refused after too many failures', color: ORANGE, key: 'login.throttled', types: ['login.throttled'] },
    ],
  },
  {
    id: 'mail-failures',
    title: 'Mail failures',
    figures: [
      { label: 'Failed, will retry', color: ORANGE, key: 'mail.retrying', types: ['mail.retrying'] },
      { label: 'Failed, gave up', color: RED, key: 'mail.failed', types: ['mail.failed'] },
    ],
  },
];

const number = (n: number) => n.toLocaleString('en-US');
const hourText = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

/** A count that opens its events in the Audit Log; a zero stays plain text. */
function countLink(n: number, filter: AuditLinkFilter, what: string): SafeHtml {
  if (n === 0) return html`0`;
  return html`<a href="${auditHref(filter)}" aria-label="${number(n)} ${what}: show in the Audit Log">${number(n)}</a>`;
}

function bytesText(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : value.toFixed(1);
  return `${bytes < 0 ? '−' : ''}${text} ${units[unit]}`;
}

export interface SecurityView {
  overview: Overview;
  csrfToken: string;
}

export function securityPage(view: SecurityView): SafeHtml {
  const { overview } = view;
  const from = overview.firstHour * HOUR_MS;
  const to = (overview.firstHour + WEEK_HOURS) * HOUR_MS;
  const { requests, unknown } = overview.totals;
  const share = requests === 0 ? 0 : Math.round((unknown * 100) / requests);
  return html`<div class="card">
<h1>Security</h1>
<p>The last 7 days, hour by hour (UTC), up to ${when(overview.now)}. Every figure opens its events in the Audit Log.</p>
<p>Reset requests: ${countLink(requests, { types: RESET_TYPES, from, to }, 'reset requests')}, of which ${countLink(
    unknown,
    { types: ['reset.requested'], account: 'unknown', from, to },
    'requests for addresses without an account',
  )} (${share}%) for addresses without an account.</p>
</div>
${alertsSection(view)}
${CHARTS.map((chart) => chartSection(chart, overview))}
${sourcesSection(overview, from, to)}
${databaseSection(overview)}`;
}

function alertsSection(view: SecurityView): SafeHtml {
  const { openAlerts, recentAlerts } = view.overview;
  return html`<section class="card" id="alerts" aria-labelledby="alerts-title">
<h2 id="alerts-title">Alerts</h2>
${openAlerts.length === 0
  ? html`<p>No open alerts.</p>`
  : html`<table><caption class="visually-hidden">Open alerts</caption><thead><tr><th scope="col">Raised</th><th scope="col">Alert</th><th scope="col">What happened</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead><tbody>${openAlerts.map(
      (alert) => html`<tr><td>${when(alert.raised_at)}</td><th scope="row">${titleOf(alert)}</th><td>${alert.summary} ${eventsLink(alert)}</td><td><form method="post" action="/admin/security/alerts/${alert.id}/acknowledge">${csrfField(view.csrfToken)}<button type="submit" aria-label="Acknowledge: ${titleOf(alert)}, ${when(alert.raised_at)}">Acknowledge</button></form></td></tr>`,
    )}</tbody></table>`}
${recentAlerts.length === 0
  ? ''
  : html`<h3>Acknowledged in the last 7 days</h3>
<table><thead><tr><th scope="col">Raised</th><th scope="col">Alert</th><th scope="col">What happened</th><th scope="col">Acknowledged</th></tr></thead><tbody>${recentAlerts.map(
      (alert) => html`<tr><td>${when(alert.raised_at)}</td><th scope="row">${titleOf(alert)}</th><td>${alert.summary} ${eventsLink(alert)}</td><td>${when(alert.acknowledged_at)}${alert.acknowledged_by ? html` by ${view.overview.acknowledgedBy.get(alert.acknowledged_by) ?? 'a deleted user'}` : ''}</td></tr>`,
    )}</tbody></table>`}
</section>`;
}

function titleOf(alert: SecurityAlert): string {
  return ALERT_TITLES[alert.kind as AlertKind] ?? alert.kind;
}

/** The Audit Log's events behind an alert, from the filter it was raised with. */
function eventsLink(alert: SecurityAlert): SafeHtml {
  let audit = '';
  try {
    audit = String((JSON.parse(alert.detail) as { audit?: unknown }).audit ?? '');
  } catch {
    audit = '';
  }
  return audit ? html`<a href="/admin/audit?${audit}">Show the events</a>` : html``;
}

function chartSection(chart: Chart, overview: Overview): SafeHtml {
  const from = overview.firstHour * HOUR_MS;
  const to = (overview.firstHour + WEEK_HOURS) * HOUR_MS;
  const values = (figure: Figure) => overview.hourly.get(figure.key) ?? new Array<number>(WEEK_HOURS).fill(0);
  const totalOf = (figure: Figure) => values(figure).reduce((sum, n) => sum + n, 0);
  const series: Series[] = chart.figures.map((figure) => ({ label: figure.label, color: figure.color, values: values(figure) }));
  const busiest = Array.from({ length: WEEK_HOURS }, (_, hour) => chart.figures.reduce((sum, figure) => sum + values(figure)[hour]!, 0));
  const peak = Math.max(...busiest);
  const label = `${chart.title} per hour, last 7 days: ${chart.figures.map((figure) => `${figure.label.toLowerCase()} ${number(totalOf(figure))}`).join(', ')}${
    peak > 0 ? `; busiest hour ${hourText((overview.firstHour + busiest.indexOf(peak)) * HOUR_MS)} UTC with ${number(peak)}` : ''
  }.`;
  const hours = busiest.flatMap((total, hour) => (total > 0 ? [hour] : []));
  const link = (figure: Figure, n: number, start: number, end: number, what: string) =>
    countLink(n, { types: figure.types, account: figure.account, from: start, to: end }, what);
  return html`<section class="card" id="${chart.id}" aria-labelledby="${chart.id}-title">
<h2 id="${chart.id}-title">${chart.title}</h2>
${hourlyBarChart({ label, series, firstHour: overview.firstHour, hours: WEEK_HOURS })}
${legend(chart.figures.map((figure) => ({ label: figure.label, color: figure.color, total: link(figure, totalOf(figure), from, to, `${figure.label.toLowerCase()} in 7 days`) })))}
${hours.length === 0
  ? html`<p class="muted">Nothing in the last 7 days.</p>`
  : html`<details><summary>${chart.title}: the numbers by hour</summary>
<table><caption>${chart.title} per hour (UTC); hours without any are left out</caption><thead><tr><th scope="col">Hour (UTC)</th>${chart.figures.map(
      (figure) => html`<th scope="col">${figure.label}</th>`,
    )}</tr></thead><tbody>${hours.map((hour) => {
      const start = (overview.firstHour + hour) * HOUR_MS;
      return html`<tr><th scope="row">${hourText(start)}</th>${chart.figures.map(
        (figure) => html`<td>${link(figure, values(figure)[hour]!, start, start + HOUR_MS, `${figure.label.toLowerCase()} at ${hourText(start)}`)}</td>`,
      )}</tr>`;
    })}</tbody></table>
</details>`}
</section>`;
}

function sourcesSection(overview: Overview, from: number, to: number): SafeHtml {
  const range = { from, to };
  return html`<section class="card" id="sources" aria-labelledby="sources-title">
<h2 id="sources-title">Where reset requests come from</h2>
<h3 id="top-addresses">Top IP addresses</h3>
${overview.topAddresses.length === 0
  ? html`<p class="muted">No reset requests in the last 7 days.</p>`
  : html`<table aria-labelledby="top-addresses"><thead><tr><th scope="col">IP address</th><th scope="col">Requests</th><th scope="col">Different addresses asked for</th><th scope="col">For addresses without an account</th></tr></thead><tbody>${overview.topAddresses.map(
      (source) => html`<tr><th scope="row">${source.ip}</th><td>${countLink(source.requests, { types: RESET_TYPES, ip: source.ip, ...range }, `requests from ${source.ip}`)}</td><td>${countLink(source.accounts, { types: RESET_TYPES, ip: source.ip, ...range }, `addresses asked for from ${source.ip}`)}</td><td>${countLink(source.unknown, { types: ['reset.requested'], account: 'unknown', ip: source.ip, ...range }, `requests for addresses without an account from ${source.ip}`)}</td></tr>`,
    )}</tbody></table>`}
<h3 id="top-networks">Top networks (IPv4 /24, IPv6 /64)</h3>
${overview.topNetworks.length === 0
  ? html`<p class="muted">No reset requests in the last 7 days.</p>`
  : html`<table aria-labelledby="top-networks"><thead><tr><th scope="col">Network</th><th scope="col">Requests</th><th scope="col">IP addresses</th><th scope="col">Different addresses asked for</th></tr></thead><tbody>${overview.topNetworks.map((network) => {
      const filter = { types: RESET_TYPES, ip: network.network, ...range };
      return html`<tr><th scope="row">${network.network}</th><td>${countLink(network.requests, filter, `requests from ${network.network}`)}</td><td>${countLink(network.ips, filter, `IP addresses in ${network.network}`)}</td><td>${countLink(network.accounts, filter, `addresses asked for from ${network.network}`)}</td></tr>`;
    })}</tbody></table>`}
<h3 id="top-targets">Most targeted accounts</h3>
${overview.topTargets.length === 0
  ? html`<p class="muted">No reset requests in the last 7 days.</p>`
  : html`<table aria-labelledby="top-targets"><thead><tr><th scope="col">Address</th><th scope="col">Account</th><th scope="col">Requests</th><th scope="col">IP addresses</th></tr></thead><tbody>${overview.topTargets.map((target) => {
      const filter = { types: RESET_TYPES, user: target.email, ...range };
      return html`<tr><th scope="row">${target.email}</th><td>${target.userId ? html`<a href="/admin/users/${target.userId}">Yes</a>` : 'None'}</td><td>${countLink(target.requests, filter, `requests for ${target.email}`)}</td><td>${countLink(target.ips, filter, `IP addresses asking for ${target.email}`)}</td></tr>`;
    })}</tbody></table>`}
</section>`;
}

function databaseSection(overview: Overview): SafeHtml {
  const { bytes, samples } = overview.database;
  const first = samples[0];
  // One sample a day (the first of each), oldest first.
  const daily = samples.filter((sample, index) => index === 0 || new Date(sample.at).getUTCDate() !== new Date(samples[index - 1]!.at).getUTCDate());
  return html`<section class="card" id="database" aria-labelledby="database-title">
<h2 id="database-title">Database</h2>
<p>Size now: ${bytesText(bytes)}.
${first
  ? html`Growth since ${when(first.at)}: ${bytes >= first.bytes ? '+' : ''}${bytesText(bytes - first.bytes)}.`
  : html`Its growth shows once the hourly samples have begun (the alert checks take one an hour).`}</p>
${daily.length === 0
  ? ''
  : html`<details><summary>Size by day</summary><table><caption>The database's size, first sample of each day</caption><thead><tr><th scope="col">Sampled (UTC)</th><th scope="col">Size</th></tr></thead><tbody>${daily.map(
      (sample) => html`<tr><th scope="row">${hourText(sample.at)}</th><td>${bytesText(sample.bytes)}</td></tr>`,
    )}</tbody></table></details>`}
</section>`;
}

/** The banner every console page shows while alerts are open; it leads to the Security page. */
export function alertBanner(open: SecurityAlert[]): SafeHtml {
  if (open.length === 0) return html``;
  const latest = open[0]!;
  return html`<div class="error security-alerts"><strong>${open.length === 1 ? 'A security alert needs attention' : `${number(open.length)} security alerts need attention`}:</strong> ${titleOf(latest)} — ${latest.summary} <a href="/admin/security#alerts">Review and acknowledge</a></div>`;
}
