// The Mail Queue pages: every message with its status, and one message with its attempts and source (the development mailbox too).
import { html, type SafeHtml } from '../../views/html.ts';
import type { MailAttemptsTable, MailMessagesTable, MailStatus } from '../../infra/db.ts';
import { pager } from './console.views.ts';
import { csrfField, when } from '../../views/components.ts';
import { t, translator } from '../../infra/i18n.ts';

// Functions, called as the page is rendered: only then is the reader's language known.
export const STATUS_LABELS: Record<MailStatus, () => string> = {
  queued: () => t('mailQueue.status.queued'),
  sending: () => t('mailQueue.status.sending'),
  sent: () => t('mailQueue.status.sent'),
  retrying: () => t('mailQueue.status.retrying'),
  failed: () => t('mailQueue.status.failed'),
  cancelled: () => t('mailQueue.status.cancelled'),
  bounced: () => t('mailQueue.status.bounced'),
};

const canRetry = (status: MailStatus) => status === 'retrying' || status === 'failed' || status === 'cancelled';
const canCancel = (status: MailStatus) => status === 'queued' || status === 'retrying';

function actions(message: MailMessagesTable, csrfToken: string): SafeHtml {
  const hidden = csrfField(csrfToken);
  return html`${canRetry(message.status) ? html`<form class="inline" method="post" action="/admin/mail-queue/${message.id}/retry">${hidden}<button type="submit" class="link">${t('mailQueue.retry')}</button></form> ` : ''}${
    canCancel(message.status) ? html`<form class="inline" method="post" action="/admin/mail-queue/${message.id}/cancel">${hidden}<button type="submit" class="link">${t('mailQueue.cancel')}</button></form>` : ''
  }`;
}

export function mailQueue(options: { messages: MailMessagesTable[]; total: number; page: number; perPage: number; status: MailStatus | null; mailboxMode: boolean; csrfToken: string; params: URLSearchParams }): SafeHtml {
  return html`<div class="card">
<h1>${t('mailQueue.title')}</h1>
${options.mailboxMode
  ? html`<p class="muted">${t('mailQueue.mailboxMode')}</p>`
  : ''}
<form method="get" action="/admin/mail-queue"><label for="status">${t('mailQueue.field.status')}</label>
<select id="status" name="status"><option value="">${t('mailQueue.all')}</option>${(Object.keys(STATUS_LABELS) as MailStatus[]).map(
    (status) => html`<option value="${status}"${options.status === status ? html` selected` : ''}>${STATUS_LABELS[status]()}</option>`,
  )}</select> <button type="submit">${t('mailQueue.show')}</button></form>
<table>
<thead><tr><th>${t('mailQueue.field.recipient')}</th><th>${t('mailQueue.field.subject')}</th><th>${t('mailQueue.field.status')}</th><th>${t('mailQueue.field.attempts')}</th><th>${t('mailQueue.field.nextTry')}</th><th>${t('mailQueue.field.lastError')}</th><th>${t('mailQueue.field.queued')}</th><th></th></tr></thead>
<tbody>${options.messages.map(
    (message) => html`<tr><td>${message.to_address}</td><td><a href="/admin/mail-queue/${message.id}">${message.subject}</a></td><td>${STATUS_LABELS[message.status]()}</td><td>${translator().number(message.attempts)}</td>
<td>${message.status === 'retrying' || message.status === 'queued' ? when(message.next_attempt_at) : '—'}</td><td>${message.last_error ?? ''}</td><td>${when(message.created_at)}</td><td>${actions(message, options.csrfToken)}</td></tr>`,
  )}</tbody>
</table>
${options.messages.length === 0 ? html`<p class="muted">${t('mailQueue.empty')}</p>` : ''}
${pager('/admin/mail-queue', options.params, options.page, options.perPage, options.total, 'messages')}
</div>`;
}

export function mailMessage(options: { message: MailMessagesTable; text: string; source: string; attempts: MailAttemptsTable[]; revealed: boolean; csrfToken: string }): SafeHtml {
  const { message } = options;
  const links = options.revealed ? [...options.text.matchAll(/https?:\/\/\S+/g)].map((match) => match[0]) : [];
  return html`<div class="card">
<h1>${message.subject}</h1>
<dl class="details"><dt>${t('mailQueue.field.to')}</dt><dd>${message.to_address}</dd><dt>${t('mailQueue.field.status')}</dt><dd data-testid="mail-status">${STATUS_LABELS[message.status]()}</dd><dt>${t('mailQueue.field.attempts')}</dt><dd>${translator().number(message.attempts)}</dd>
${message.last_error ? html`<dt>${t('mailQueue.field.lastError')}</dt><dd>${message.last_error}</dd>` : ''}</dl>
<p>${actions(message, options.csrfToken)}</p>
${options.revealed ? html`<p class="muted">${t('mailQueue.revealed')}</p>` : html`<p class="muted">${t('mailQueue.masked')}</p>`}
<pre data-testid="mail-text">${options.text}</pre>
${links.length > 0 ? html`<p>${t('mailQueue.links')} ${links.map((link) => html`<a href="${link}">${link}</a> `)}</p>` : ''}
<h2>${t('mailQueue.field.attempts')}</h2>
${options.attempts.length === 0
  ? html`<p class="muted">${t('mailQueue.noAttempt')}</p>`
  : html`<table><thead><tr><th>${t('mailQueue.attempt.time')}</th><th>${t('mailQueue.attempt.server')}</th><th>${t('mailQueue.attempt.outcome')}</th><th>${t('mailQueue.attempt.reply')}</th></tr></thead>
<tbody>${options.attempts.map((attempt) => html`<tr><td>${when(attempt.at)}</td><td>${attempt.server}</td><td>${attempt.outcome}</td><td>${attempt.reply}</td></tr>`)}</tbody></table>`}
<details><summary>${t('mailQueue.source')}</summary><pre data-testid="mail-source">${options.source}</pre></details>
</div>`;
}
