// The Mail Queue pages: every message with its status, and one message with its attempts and source (the development mailbox too).
import { html, type SafeHtml } from '../../views/html.ts';
import type { MailAttemptsTable, MailMessagesTable, MailStatus } from '../../infra/db.ts';
import { pager } from './console.views.ts';
import { csrfField, when } from '../../views/components.ts';

export const STATUS_LABELS: Record<MailStatus, string> = {
  queued: 'Queued',
  sending: 'Sending',
  sent: 'Sent',
  retrying: 'Retrying',
  failed: 'Failed',
  cancelled: 'Cancelled',
  bounced: 'Bounced',
};

const canRetry = (status: MailStatus) => status === 'retrying' || status === 'failed' || status === 'cancelled';
const canCancel = (status: MailStatus) => status === 'queued' || status === 'retrying';

function actions(message: MailMessagesTable, csrfToken: string): SafeHtml {
  const hidden = csrfField(csrfToken);
  return html`${canRetry(message.status) ? html`<form class="inline" method="post" action="/admin/mail-queue/${message.id}/retry">${hidden}<button type="submit" class="link">Retry</button></form> ` : ''}${
    canCancel(message.status) ? html`<form class="inline" method="post" action="/admin/mail-queue/${message.id}/cancel">${hidden}<button type="submit" class="link">Cancel</button></form>` : ''
  }`;
}

export function mailQueue(options: { messages: MailMessagesTable[]; total: number; page: number; perPage: number; status: MailStatus | null; mailboxMode: boolean; csrfToken: string; params: URLSearchParams }): SafeHtml {
  return html`<div class="card">
<h1>Mail Queue</h1>
${options.mailboxMode
  ? html`<p class="muted">No outgoing mail server is configured: mail is kept here, in the development mailbox. Open a message to read it.</p>`
  : ''}
<form method="get" action="/admin/mail-queue"><label for="status">Status</label>
<select id="status" name="status"><option value="">All</option>${(Object.keys(STATUS_LABELS) as MailStatus[]).map(
    (status) => html`<option value="${status}"${options.status === status ? html` selected` : ''}>${STATUS_LABELS[status]}</option>`,
  )}</select> <button type="submit">Show</button></form>
<table>
<thead><tr><th>Recipient</th><th>Subject</th><th>Status</th><th>Attempts</th><th>Next try</th><th>Last error</th><th>Queued</th><th></th></tr></thead>
<tbody>${options.messages.map(
    (message) => html`<tr><td>${message.to_address}</td><td><a href="/admin/mail-queue/${message.id}">${message.subject}</a></td><td>${STATUS_LABELS[message.status]}</td><td>${message.attempts}</td>
<td>${message.status === 'retrying' || message.status === 'queued' ? when(message.next_attempt_at) : '—'}</td><td>${message.last_error ?? ''}</td><td>${when(message.created_at)}</td><td>${actions(message, options.csrfToken)}</td></tr>`,
  )}</tbody>
</table>
${options.messages.length === 0 ? html`<p class="muted">No mail here.</p>` : ''}
${pager('/admin/mail-queue', options.params, options.page, options.perPage, options.total, 'messages')}
</div>`;
}

export function mailMessage(options: { message: MailMessagesTable; text: string; source: string; attempts: MailAttemptsTable[]; revealed: boolean; csrfToken: string }): SafeHtml {
  const { message } = options;
  const links = options.revealed ? [...options.text.matchAll(/https?:\/\/\S+/g)].map((match) => match[0]) : [];
  return html`<div class="card">
<h1>${message.subject}</h1>
<dl class="details"><dt>To</dt><dd>${message.to_address}</dd><dt>Status</dt><dd data-testid="mail-status">${STATUS_LABELS[message.status]}</dd><dt>Attempts</dt><dd>${message.attempts}</dd>
${message.last_error ? html`<dt>Last error</dt><dd>${message.last_error}</dd>` : ''}</dl>
<p>${actions(message, options.csrfToken)}</p>
${options.revealed ? html`<p class="muted">Development mailbox: this message was not sent anywhere; its links work from here.</p>` : html`<p class="muted">Reset links are masked here.</p>`}
<pre data-testid="mail-text">${options.text}</pre>
${links.length > 0 ? html`<p>Links: ${links.map((link) => html`<a href="${link}">${link}</a> `)}</p>` : ''}
<h2>Attempts</h2>
${options.attempts.length === 0
  ? html`<p class="muted">No attempt yet.</p>`
  : html`<table><thead><tr><th>Time</th><th>Server</th><th>Outcome</th><th>Reply or error</th></tr></thead>
<tbody>${options.attempts.map((attempt) => html`<tr><td>${when(attempt.at)}</td><td>${attempt.server}</td><td>${attempt.outcome}</td><td>${attempt.reply}</td></tr>`)}</tbody></table>`}
<details><summary>Message source</summary><pre data-testid="mail-source">${options.source}</pre></details>
</div>`;
}
