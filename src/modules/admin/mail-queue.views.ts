// The Mail Queue pages: every message with its status, and one message with its attempts (the development mailbox too).
import { html, type SafeHtml } from '../../views/html.ts';
import type { MailAttemptsTable, MailMessagesTable } from '../../infra/db.ts';
import { when } from './console.views.ts';

const STATUS: Record<MailMessagesTable['status'], string> = {
  queued: 'Queued',
  sending: 'Sending',
  sent: 'Sent',
  retrying: 'Retrying',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function mailQueue(messages: MailMessagesTable[], mailboxMode: boolean): SafeHtml {
  return html`<div class="card">
<h1>Mail Queue</h1>
${mailboxMode
  ? html`<p class="muted">No outgoing mail server is configured: mail is kept here, in the development mailbox. Open a message to read it.</p>`
  : ''}
<table>
<thead><tr><th>Recipient</th><th>Subject</th><th>Status</th><th>Attempts</th><th>Last error</th><th>Queued</th></tr></thead>
<tbody>${messages.map(
    (message) => html`<tr><td>${message.to_address}</td><td><a href="/admin/mail-queue/${message.id}">${message.subject}</a></td><td>${STATUS[message.status]}</td><td>${message.attempts}</td><td>${message.last_error ?? ''}</td><td>${when(message.created_at)}</td></tr>`,
  )}</tbody>
</table>
${messages.length === 0 ? html`<p class="muted">No mail yet.</p>` : ''}
</div>`;
}

export function mailMessage(message: MailMessagesTable, text: string, attempts: MailAttemptsTable[], revealed: boolean): SafeHtml {
  const links = revealed ? [...text.matchAll(/https?:\/\/\S+/g)].map((match) => match[0]) : [];
  return html`<div class="card">
<h1>${message.subject}</h1>
<p>To: ${message.to_address}<br>Status: ${STATUS[message.status]}${message.last_error ? html`<br>Last error: ${message.last_error}` : ''}</p>
${revealed ? html`<p class="muted">Development mailbox: this message was not sent anywhere; its links work from here.</p>` : html`<p class="muted">Reset links are masked here.</p>`}
<pre data-testid="mail-text">${text}</pre>
${links.length > 0 ? html`<p>Links: ${links.map((link) => html`<a href="${link}">${link}</a> `)}</p>` : ''}
<h2>Attempts</h2>
<table><thead><tr><th>Time</th><th>Server</th><th>Outcome</th><th>Reply</th></tr></thead>
<tbody>${attempts.map((attempt) => html`<tr><td>${when(attempt.at)}</td><td>${attempt.server}</td><td>${attempt.outcome}</td><td>${attempt.reply}</td></tr>`)}</tbody></table>
</div>`;
}
