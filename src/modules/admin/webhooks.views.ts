// The Webhooks pages: the subscriptions, one subscription's form with its recent deliveries and their attempts, the confirmations and the secret shown once.
import { html, type SafeHtml } from '../../views/html.ts';
import { when } from '../../views/components.ts';
import type { WebhookDeliveryStatus } from '../../infra/db.ts';
import { WEBHOOK_EVENT_LABELS, WEBHOOK_EVENTS } from '../webhooks/events.ts';
import type { DeliveryView, Subscription } from '../webhooks/webhooks.service.ts';

export const NOTICES = {
  created: 'The webhook was added.',
  saved: 'The changes were saved.',
  deleted: 'The webhook was deleted.',
  'secret-shown': 'The signing secret was shown once and cannot be shown again. If it was not copied, rotate it.',
};

const STATUS_LABELS: Record<WebhookDeliveryStatus, string> = {
  pending: 'Waiting',
  sending: 'Sending',
  retrying: 'Will retry',
  delivered: 'Delivered',
  failed: 'Failed',
};

const enabledLabel = (subscription: Subscription) => (subscription.enabled ? 'Enabled' : 'Disabled');

export function webhooksList(subscriptions: Array<Subscription & { failed: number; waiting: number }>): SafeHtml {
  return html`<div class="card">
<h1>Webhooks</h1>
<p><a class="button" href="/admin/webhooks/new">New Webhook</a></p>
<p class="muted">Addresses that Latchkey tells about events (a password changed, a user created, …), each request signed per the Standard Webhooks specification.</p>
${subscriptions.length === 0
  ? html`<p class="muted">No webhook is set up yet.</p>`
  : html`<table>
<thead><tr><th>URL</th><th>Description</th><th>Events</th><th>Status</th><th>Waiting</th><th>Failed</th></tr></thead>
<tbody>
${subscriptions.map(
  (subscription) => html`<tr><td><a href="/admin/webhooks/${subscription.id}">${subscription.url}</a></td><td>${subscription.description}</td><td>${subscription.events.join(', ')}</td><td>${enabledLabel(subscription)}</td><td>${subscription.waiting}</td><td>${subscription.failed}</td></tr>`,
)}
</tbody>
</table>`}
</div>`;
}

export interface WebhookFormView {
  subscription: Subscription | null;
  csrfToken: string;
  values: { url: string; description: string; events: string[]; enabled: boolean };
  errors?: Record<string, string>;
  error?: string | null;
}

export function webhookForm(view: WebhookFormView): SafeHtml {
  const { values, subscription } = view;
  const errors = view.errors ?? {};
  const fieldError = (name: string) => (errors[name] ? html`<span class="field-error" id="${name}-error">${errors[name]}</span>` : '');
  const described = (name: string) => (errors[name] ? html` aria-describedby="${name}-error" aria-invalid="true"` : '');
  const action = subscription ? `/admin/webhooks/${subscription.id}` : '/admin/webhooks';
  return html`<div class="card narrow">
<h1>${subscription ? 'Webhook' : 'New Webhook'}</h1>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
${subscription ? html`<dl class="details"><dt>ID</dt><dd><code>${subscription.id}</code></dd><dt>Added</dt><dd>${when(subscription.createdAt)}</dd><dt>Secret rotated</dt><dd>${when(subscription.secretRotatedAt)}</dd></dl>` : ''}
<form method="post" action="${action}">
<input type="hidden" name="_csrf" value="${view.csrfToken}">
<label for="url">URL</label><input id="url" name="url" type="text" inputmode="url" maxlength="2000" value="${values.url}" required placeholder="https://hooks.example.com/latchkey"${described('url')}>${fieldError('url')}
<label for="description">Description</label><input id="description" name="description" type="text" maxlength="200" value="${values.description}"${described('description')}>${fieldError('description')}
<fieldset class="choices"${errors.events ? html` aria-describedby="events-error"` : ''}><legend>Events</legend>
${WEBHOOK_EVENTS.map(
  (event) => html`<label class="check"><input type="checkbox" name="events" value="${event}"${values.events.includes(event) ? html` checked` : ''}> <code>${event}</code> <span class="muted">(${WEBHOOK_EVENT_LABELS[event]})</span></label>`,
)}
</fieldset>${fieldError('events')}
<p><label class="check"><input type="checkbox" name="enabled" value="yes"${values.enabled ? html` checked` : ''}> Enabled (a disabled webhook keeps its deliveries waiting until it is enabled again)</label></p>
<button type="submit">${subscription ? 'Save' : 'Add Webhook'}</button>
</form>
${subscription
  ? html`<p><a class="button secondary" href="/admin/webhooks/${subscription.id}/rotate-secret">Rotate Secret</a> <a class="button secondary" href="/admin/webhooks/${subscription.id}/delete">Delete Webhook</a></p>`
  : ''}
<p><a href="/admin/webhooks">Back to Webhooks</a></p>
</div>`;
}

/** The newest deliveries of a subscription, each with every attempt: when, the answer or the error, how long it took. */
export function deliveriesTable(deliveries: DeliveryView[]): SafeHtml {
  return html`<div class="card">
<h2>Recent Deliveries</h2>
${deliveries.length === 0
  ? html`<p class="muted">Nothing has been sent to this webhook yet.</p>`
  : html`<table>
<thead><tr><th>Event</th><th>Queued</th><th>Status</th><th>Attempts</th></tr></thead>
<tbody>
${deliveries.map(
  (delivery) => html`<tr><td><code>${delivery.event_type}</code><br><span class="muted">msg_${delivery.id}</span></td><td>${when(delivery.created_at)}</td><td>${STATUS_LABELS[delivery.status]}${
    delivery.status === 'retrying' ? html`<br><span class="muted">next at ${when(delivery.next_attempt_at)}</span>` : ''
  }</td>
<td>${delivery.attemptRows.length === 0
    ? html`<span class="muted">none yet</span>`
    : html`<ol>${delivery.attemptRows.map(
        (attempt) => html`<li>${when(attempt.at)}: ${attempt.status_code !== null ? html`HTTP ${attempt.status_code}` : ''}${attempt.status_code !== null && attempt.error ? ' — ' : ''}${attempt.error ?? ''} <span class="muted">(${attempt.duration_ms} ms)</span></li>`,
      )}</ol>`}</td></tr>`,
)}
</tbody>
</table>`}
</div>`;
}

export function deleteConfirm(subscription: Subscription, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>Delete Webhook</h1>
<p>Delete the webhook to ${subscription.url}? Nothing more is sent to it, and its deliveries waiting or retrying are dropped with their history.</p>
<form method="post" action="/admin/webhooks/${subscription.id}/delete">
<input type="hidden" name="_csrf" value="${csrfToken}">
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/webhooks/${subscription.id}">Cancel</a>
</form>
</div>`;
}

export function rotateConfirm(subscription: Subscription, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>Rotate Secret</h1>
<p>Give the webhook to ${subscription.url} a new signing secret? Every delivery from now on, retries too, is signed with the new secret only: the receiver must be given it at once.</p>
<form method="post" action="/admin/webhooks/${subscription.id}/rotate-secret">
<input type="hidden" name="_csrf" value="${csrfToken}">
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/webhooks/${subscription.id}">Cancel</a>
</form>
</div>`;
}

/** The signing secret, on the one page that ever shows it. */
export function secretShownOnce(subscription: Subscription, secret: string, heading: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${heading}</h1>
<p class="error" role="alert">Copy the signing secret now: it will not be shown again. Latchkey keeps it encrypted and cannot display it later; if it is lost, rotate it.</p>
<dl class="details"><dt>URL</dt><dd>${subscription.url}</dd><dt>ID</dt><dd><code>${subscription.id}</code></dd></dl>
<label for="signing-secret">Signing Secret</label>
<input id="signing-secret" type="text" readonly value="${secret}" autocomplete="off" spellcheck="false">
<p class="muted">The receiver checks each request's <code>webhook-signature</code> header with this secret (see “Webhooks” in the README).</p>
<p><a class="button" href="/admin/webhooks/${subscription.id}">Done</a></p>
</div>`;
}
