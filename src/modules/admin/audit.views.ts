// The Audit Log page and its CSV export.
import { visibleText } from '../../infra/text.ts';
import { html, type SafeHtml } from '../../views/html.ts';
import { AUDIT_LABELS, AUDIT_TYPES, auditLabel } from '../audit/audit.ts';
import { t } from '../../infra/i18n.ts';
import type { AuditRow } from '../audit/audit.service.ts';
import { pager } from './console.views.ts';
import { activityTable, describeDetail } from './users.views.ts';

export interface AuditView {
  rows: AuditRow[];
  total: number;
  filters: { user: string; type: string; account: string; ip: string; from: string; to: string };
  page: number;
  perPage: number;
  params: URLSearchParams;
  error?: string | null;
}

export function auditPage(view: AuditView): SafeHtml {
  const { filters } = view;
  return html`<div class="card">
<h1>${t('audit.title')}</h1>
<form method="get" action="/admin/audit" class="filters">
<label for="user">${t('audit.filter.user')}</label><input id="user" name="user" type="text" value="${filters.user}" maxlength="254" placeholder="${t('audit.filter.userHint')}">
<label for="type">${t('audit.filter.event')}</label><select id="type" name="type"><option value="">${t('audit.filter.allEvents')}</option>${severalTypes(filters.type)}${AUDIT_TYPES.map(
    (type) => html`<option value="${type}"${filters.type === type ? html` selected` : ''}>${AUDIT_LABELS[type]()}</option>`,
  )}</select>
<label for="account">${t('audit.filter.account')}</label><select id="account" name="account">${ACCOUNT_CHOICES.map(
    ([value, label]) => html`<option value="${value}"${filters.account === value ? html` selected` : ''}>${label()}</option>`,
  )}</select>
<label for="ip">${t('audit.filter.ip')}</label><input id="ip" name="ip" type="text" value="${filters.ip}" maxlength="254" placeholder="${t('audit.filter.ipHint')}">
<label for="from">${t('audit.filter.from')}</label><input id="from" name="from" type="${momentInput(filters.from)}" value="${filters.from}">
<label for="to">${t('audit.filter.to')}</label><input id="to" name="to" type="${momentInput(filters.to)}" value="${filters.to}">
<button type="submit">${t('audit.filter.submit')}</button>
${view.error ? '' : html`<a class="button secondary" href="/admin/audit.csv?${view.params.toString()}">${t('audit.exportCsv')}</a>`}
</form>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
</div>
<div class="card">
${activityTable(view.rows)}
${pager('/admin/audit', view.params, view.page, view.perPage, view.total, 'events')}
</div>`;
}

const ACCOUNT_CHOICES = [
  ['', () => t('audit.filter.anyAccount')],
  ['known', () => t('audit.filter.withAccount')],
  ['unknown', () => t('audit.filter.withoutAccount')],
] as const;

/** The Security view links to several event types at once ("a,b"): they show as one choice, selected. */
function severalTypes(type: string): SafeHtml | '' {
  if (!type.includes(',')) return '';
  const labels = type.split(',').map(auditLabel);
  return html`<option value="${type}" selected>${labels.join(t('audit.filter.or'))}</option>`;
}

/** From and To are days, or times to the minute (UTC) when a link from the Security view gave one. */
function momentInput(value: string): 'date' | 'datetime-local' {
  return value.includes('T') ? 'datetime-local' : 'date';
}

// What makes a spreadsheet read a cell as a formula (ASCII and full-width forms), at the start of the cell or
// right after any character a spreadsheet might split cells on (`,` `;` tab `|`), spaces allowed before it.
const FORMULA_START = /(^|[,;\t|\r\n])(\s*)([=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * A cell no spreadsheet runs, whatever separator it splits on: every cell quoted, and every place a formula
 * could begin gets a leading apostrophe (shown as text, never evaluated).
 */
export function csvCell(value: string): string {
  const neutral = visibleText(value).replace(FORMULA_START, "$1$2'$3");
  return `"${neutral.replace(/"/g, '""')}"`;
}

export function auditCsv(rows: AuditRow[]): string {
  const header = ['time', 'event', 'type', 'user', 'by', 'ip', 'user agent', 'details'];
  const lines = rows.map((row) =>
    [
      new Date(row.at).toISOString(),
      auditLabel(row.type),
      row.type,
      row.user_email ?? row.email ?? '',
      row.actor_email ?? '',
      row.ip ?? '',
      row.user_agent ?? '',
      describeDetail(row.detail),
    ]
      .map(csvCell)
      .join(','),
  );
  return [header.map(csvCell).join(','), ...lines].join('\r\n') + '\r\n';
}
