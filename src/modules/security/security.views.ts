// The Security page: alerts with "Acknowledge", a week of activity by hour as charts with their numbers, the
// top sources and targets of reset requests, the database's size; and the console's banner for open alerts.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField, when } from '../../views/components.ts';
import { t, translator } from '../../infra/i18n.ts';
import { ALERT_TITLES, type AlertKind } from './alerts.ts';
import { hourlyBarChart, legend, type Series } from './charts.ts';
import { auditHref, type AuditLinkFilter } from './links.ts';
import type { SecurityAlert } from './alerts.repo.ts';
import { RESET_TYPES, UNKNOWN_RESETS, WEEK_HOURS, type Overview } from './security.service.ts';

const HOUR_MS = 3_600_000;

/** One figure of a chart: the events it counts, as the Audit Log filters them. */
interface Figure {
  label: () => string;
  /** The label inside a sentence ("for an account 3"), as each language writes it there. */
  phrase: () => string;
  color: string;
  /** The series' key in Overview.hourly. */
  key: string;
  types: readonly string[];
  account?: 'known' | 'unknown';
}

interface Chart {
  id: string;
  title: () => string;
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
    title: () => t('security.chart.resets'),
    figures: [
      { label: () => t('security.figure.known'), phrase: () => t('security.figure.knownPhrase'), color: BLUE, key: 'reset.requested', types: ['reset.requested'], account: 'known' },
      { label: () => t('security.figure.unknown'), phrase: () => t('security.figure.unknownPhrase'), color: ORANGE, key: UNKNOWN_RESETS, types: ['reset.requested'], account: 'unknown' },
      { label: () => t('security.figure.overLimit'), phrase: () => t('security.figure.overLimitPhrase'), color: GREY, key: 'reset.throttled', types: ['reset.throttled'] },
    ],
  },
  {
    id: 'links',
    title: () => t('security.chart.links'),
    figures: [
      { label: () => t('security.figure.opened'), phrase: () => t('security.figure.openedPhrase'), color: BLUE, key: 'reset.link_opened', types: ['reset.link_opened'] },
      { label: () => t('security.figure.used'), phrase: () => t('security.figure.usedPhrase'), color: GREEN, key: 'reset.link_used', types: ['reset.link_used'] },
      { label: () => t('security.figure.refused'), phrase: () => t('security.figure.refusedPhrase'), color: RED, key: 'reset.link_refused', types: ['reset.link_refused'] },
    ],
  },
  {
    id: 'failed-logins',
    title: () => t('security.chart.failedLogins'),
    figures: [{ label: () => t('security.chart.failedLogins'), phrase: () => t('security.figure.failedLoginsPhrase'), color: RED, key: 'login.failed', types: ['login.failed'] }],
  },
  {
    id: 'failed-second-steps',
    title: () => t('security.chart.failedSecondSteps'),
    figures: [{ label: () => t('security.figure.wrongCodes'), phrase: () => t('security.figure.wrongCodesPhrase'), color: RED, key: 'two_step.failed', types: ['two_step.failed'] }],
  },
  {
    id: 'throttled',
    title: () => t('security.chart.throttled'),
    figures: [
      { label: () => t('security.figure.resetsOverLimit'), phrase: () => t('security.figure.resetsOverLimitPhrase'), color: GREY, key: 'reset.throttled', types: ['reset.throttled'] },
      { label: () => t('security.figure.loginsRefused'), phrase: () => t('security.figure.loginsRefusedPhrase'), color: ORANGE, key: 'login.throttled', types: ['login.throttled'] },
    ],
  },
  {
    id: 'mail-failures',
    title: () => t('security.chart.mailFailures'),
    figures: [
      { label: () => t('security.figure.willRetry'), phrase: () => t('security.figure.willRetryPhrase'), color: ORANGE, key: 'mail.retrying', types: ['mail.retrying'] },
      { label: () => t('security.figure.gaveUp'), phrase: () => t('security.figure.gaveUpPhrase'), color: RED, key: 'mail.failed', types: ['mail.failed'] },
    ],
  },
];

const number = (n: number) => translator().number(n);
const hourText = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

/** A count that opens its events in the Audit Log; a zero stays plain text. */
function countLink(n: number, filter: AuditLinkFilter, what: string): SafeHtml {
  if (n === 0) return html`0`;
  return html`<a href="${auditHref(filter)}" aria-label="${t('security.countLink', { count: number(n), what })}">${number(n)}</a>`;
}

function bytesText(bytes: number): string {
  const units = [t('security.database.bytes'), 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : new Intl.NumberFormat(translator().lang, { minimumFractionDigits: 1, maximumFractionDigits: 1, useGrouping: false }).format(value);
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
<h1>${t('security.title')}</h1>
<p>${t('security.intro', { now: when(overview.now) })}</p>
<p>${t('security.requests.total')} ${countLink(requests, { types: RESET_TYPES, from, to }, t('security.what.resetRequests'))}${t('security.requests.ofWhich')} ${countLink(
    unknown,
    { types: ['reset.requested'], account: 'unknown', from, to },
    t('security.what.unknownRequests'),
  )} ${t('security.requests.unknownShare', { share })}</p>
</div>
${alertsSection(view)}
${CHARTS.map((chart) => chartSection(chart, overview))}
${sourcesSection(overview, from, to)}
${databaseSection(overview)}`;
}

function alertsSection(view: SecurityView): SafeHtml {
  const { openAlerts, recentAlerts } = view.overview;
  return html`<section class="card" id="alerts" aria-labelledby="alerts-title">
<h2 id="alerts-title">${t('security.alerts.title')}</h2>
${openAlerts.length === 0
  ? html`<p>${t('security.alerts.none')}</p>`
  : html`<table><caption class="visually-hidden">${t('security.alerts.open')}</caption><thead><tr><th scope="col">${t('security.alerts.raised')}</th><th scope="col">${t('security.alerts.alert')}</th><th scope="col">${t('security.alerts.what')}</th><th scope="col"><span class="visually-hidden">${t('security.alerts.action')}</span></th></tr></thead><tbody>${openAlerts.map(
      (alert) => html`<tr><td>${when(alert.raised_at)}</td><th scope="row">${titleOf(alert)}</th><td>${alert.summary} ${eventsLink(alert)}</td><td><form method="post" action="/admin/security/alerts/${alert.id}/acknowledge">${csrfField(view.csrfToken)}<button type="submit" aria-label="${t('security.alerts.acknowledgeLabel', { title: titleOf(alert), raisedAt: when(alert.raised_at) })}">${t('security.alerts.acknowledge')}</button></form></td></tr>`,
    )}</tbody></table>`}
${recentAlerts.length === 0
  ? ''
  : html`<h3>${t('security.alerts.recent')}</h3>
<table><thead><tr><th scope="col">${t('security.alerts.raised')}</th><th scope="col">${t('security.alerts.alert')}</th><th scope="col">${t('security.alerts.what')}</th><th scope="col">${t('security.alerts.acknowledged')}</th></tr></thead><tbody>${recentAlerts.map(
      (alert) => html`<tr><td>${when(alert.raised_at)}</td><th scope="row">${titleOf(alert)}</th><td>${alert.summary} ${eventsLink(alert)}</td><td>${when(alert.acknowledged_at)}${alert.acknowledged_by ? html` ${t('security.alerts.by', { name: view.overview.acknowledgedBy.get(alert.acknowledged_by) ?? t('security.alerts.deletedUser') })}` : ''}</td></tr>`,
    )}</tbody></table>`}
</section>`;
}

function titleOf(alert: SecurityAlert): string {
  return ALERT_TITLES[alert.kind as AlertKind]?.() ?? alert.kind;
}

/** The Audit Log's events behind an alert, from the filter it was raised with. */
function eventsLink(alert: SecurityAlert): SafeHtml {
  let audit = '';
  try {
    audit = String((JSON.parse(alert.detail) as { audit?: unknown }).audit ?? '');
  } catch {
    audit = '';
  }
  return audit ? html`<a href="/admin/audit?${audit}">${t('security.alerts.showEvents')}</a>` : html``;
}

function chartSection(chart: Chart, overview: Overview): SafeHtml {
  const from = overview.firstHour * HOUR_MS;
  const to = (overview.firstHour + WEEK_HOURS) * HOUR_MS;
  const values = (figure: Figure) => overview.hourly.get(figure.key) ?? new Array<number>(WEEK_HOURS).fill(0);
  const totalOf = (figure: Figure) => values(figure).reduce((sum, n) => sum + n, 0);
  const series: Series[] = chart.figures.map((figure) => ({ label: figure.label(), color: figure.color, values: values(figure) }));
  const busiest = Array.from({ length: WEEK_HOURS }, (_, hour) => chart.figures.reduce((sum, figure) => sum + values(figure)[hour]!, 0));
  const peak = Math.max(...busiest);
  const totals = chart.figures.map((figure) => `${figure.phrase()} ${number(totalOf(figure))}`).join(', ');
  const busiestHour = peak > 0 ? t('security.chart.busiest', { hour: hourText((overview.firstHour + busiest.indexOf(peak)) * HOUR_MS), count: number(peak) }) : '';
  const label = `${t('security.chart.label', { title: chart.title(), totals })}${busiestHour}.`;
  const hours = busiest.flatMap((total, hour) => (total > 0 ? [hour] : []));
  const link = (figure: Figure, n: number, start: number, end: number, what: string) =>
    countLink(n, { types: figure.types, account: figure.account, from: start, to: end }, what);
  return html`<section class="card" id="${chart.id}" aria-labelledby="${chart.id}-title">
<h2 id="${chart.id}-title">${chart.title()}</h2>
${hourlyBarChart({ label, series, firstHour: overview.firstHour, hours: WEEK_HOURS })}
${legend(chart.figures.map((figure) => ({ label: figure.label(), color: figure.color, total: link(figure, totalOf(figure), from, to, t('security.what.inWeek', { what: figure.phrase() })) })))}
${hours.length === 0
  ? html`<p class="muted">${t('security.chart.nothing')}</p>`
  : html`<details><summary>${t('security.chart.byHour', { title: chart.title() })}</summary>
<table><caption>${t('security.chart.caption', { title: chart.title() })}</caption><thead><tr><th scope="col">${t('security.chart.hour')}</th>${chart.figures.map(
      (figure) => html`<th scope="col">${figure.label()}</th>`,
    )}</tr></thead><tbody>${hours.map((hour) => {
      const start = (overview.firstHour + hour) * HOUR_MS;
      return html`<tr><th scope="row">${hourText(start)}</th>${chart.figures.map(
        (figure) => html`<td>${link(figure, values(figure)[hour]!, start, start + HOUR_MS, t('security.what.atHour', { what: figure.phrase(), hour: hourText(start) }))}</td>`,
      )}</tr>`;
    })}</tbody></table>
</details>`}
</section>`;
}

function sourcesSection(overview: Overview, from: number, to: number): SafeHtml {
  const range = { from, to };
  return html`<section class="card" id="sources" aria-labelledby="sources-title">
<h2 id="sources-title">${t('security.sources.title')}</h2>
<h3 id="top-addresses">${t('security.sources.topAddresses')}</h3>
${overview.topAddresses.length === 0
  ? html`<p class="muted">${t('security.sources.none')}</p>`
  : html`<table aria-labelledby="top-addresses"><thead><tr><th scope="col">${t('security.sources.ip')}</th><th scope="col">${t('security.sources.requests')}</th><th scope="col">${t('security.sources.accounts')}</th><th scope="col">${t('security.sources.unknown')}</th></tr></thead><tbody>${overview.topAddresses.map(
      (source) => html`<tr><th scope="row">${source.ip}</th><td>${countLink(source.requests, { types: RESET_TYPES, ip: source.ip, ...range }, t('security.what.requestsFrom', { source: source.ip }))}</td><td>${countLink(source.accounts, { types: RESET_TYPES, ip: source.ip, ...range }, t('security.what.accountsFrom', { source: source.ip }))}</td><td>${countLink(source.unknown, { types: ['reset.requested'], account: 'unknown', ip: source.ip, ...range }, t('security.what.unknownFrom', { source: source.ip }))}</td></tr>`,
    )}</tbody></table>`}
<h3 id="top-networks">${t('security.sources.topNetworks')}</h3>
${overview.topNetworks.length === 0
  ? html`<p class="muted">${t('security.sources.none')}</p>`
  : html`<table aria-labelledby="top-networks"><thead><tr><th scope="col">${t('security.sources.network')}</th><th scope="col">${t('security.sources.requests')}</th><th scope="col">${t('security.sources.ips')}</th><th scope="col">${t('security.sources.accounts')}</th></tr></thead><tbody>${overview.topNetworks.map((network) => {
      const filter = { types: RESET_TYPES, ip: network.network, ...range };
      return html`<tr><th scope="row">${network.network}</th><td>${countLink(network.requests, filter, t('security.what.requestsFrom', { source: network.network }))}</td><td>${countLink(network.ips, filter, t('security.what.ipsIn', { network: network.network }))}</td><td>${countLink(network.accounts, filter, t('security.what.accountsFrom', { source: network.network }))}</td></tr>`;
    })}</tbody></table>`}
<h3 id="top-targets">${t('security.sources.topTargets')}</h3>
${overview.topTargets.length === 0
  ? html`<p class="muted">${t('security.sources.none')}</p>`
  : html`<table aria-labelledby="top-targets"><thead><tr><th scope="col">${t('security.sources.address')}</th><th scope="col">${t('security.sources.account')}</th><th scope="col">${t('security.sources.requests')}</th><th scope="col">${t('security.sources.ips')}</th></tr></thead><tbody>${overview.topTargets.map((target) => {
      const filter = { types: RESET_TYPES, user: target.email, ...range };
      return html`<tr><th scope="row">${target.email}</th><td>${target.userId ? html`<a href="/admin/users/${target.userId}">${t('security.sources.yes')}</a>` : t('security.sources.noAccount')}</td><td>${countLink(target.requests, filter, t('security.what.requestsFor', { email: target.email }))}</td><td>${countLink(target.ips, filter, t('security.what.ipsFor', { email: target.email }))}</td></tr>`;
    })}</tbody></table>`}
</section>`;
}

function databaseSection(overview: Overview): SafeHtml {
  const { bytes, samples } = overview.database;
  const first = samples[0];
  // One sample a day (the first of each), oldest first.
  const daily = samples.filter((sample, index) => index === 0 || new Date(sample.at).getUTCDate() !== new Date(samples[index - 1]!.at).getUTCDate());
  return html`<section class="card" id="database" aria-labelledby="database-title">
<h2 id="database-title">${t('security.database.title')}</h2>
<p>${t('security.database.size', { size: bytesText(bytes) })}
${first
  ? t('security.database.growth', { since: when(first.at), growth: `${bytes >= first.bytes ? '+' : ''}${bytesText(bytes - first.bytes)}` })
  : t('security.database.noGrowth')}</p>
${daily.length === 0
  ? ''
  : html`<details><summary>${t('security.database.byDay')}</summary><table><caption>${t('security.database.caption')}</caption><thead><tr><th scope="col">${t('security.database.sampled')}</th><th scope="col">${t('security.database.sizeColumn')}</th></tr></thead><tbody>${daily.map(
      (sample) => html`<tr><th scope="row">${hourText(sample.at)}</th><td>${bytesText(sample.bytes)}</td></tr>`,
    )}</tbody></table></details>`}
</section>`;
}

/** The banner every console page shows while alerts are open; it leads to the Security page. */
export function alertBanner(open: SecurityAlert[]): SafeHtml {
  if (open.length === 0) return html``;
  const latest = open[0]!;
  return html`<div class="error security-alerts"><strong>${t('security.banner.title', { count: open.length })}</strong> ${titleOf(latest)} — ${latest.summary} <a href="/admin/security#alerts">${t('security.banner.review')}</a></div>`;
}
