// The API Keys pages: the keys with their scopes and state, the form for a new key, the key shown once, revoking.
import { html, type SafeHtml } from '../../views/html.ts';
import { API_SCOPES, SCOPE_DESCRIPTIONS, type ApiKey, type KeyState } from '../apikeys/apikeys.service.ts';

const STATE_LABELS: Record<KeyState, string> = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };
const when = (ms: number | null, never = '—') => (ms === null ? never : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC');

export const NOTICES = {
  revoked: 'The key was revoked: calls with it are refused from now on.',
  'key-shown': 'The key was shown once and cannot be shown again. If it was not copied, revoke it and create a new one.',
};

export function apiKeysList(keys: Array<ApiKey & { state: KeyState }>): SafeHtml {
  return html`<div class="card">
<h1>API Keys</h1>
<p><a class="button" href="/admin/api-keys/new">New API Key</a></p>
<p class="muted">Keys for the JSON API (<a href="/api/docs">API documentation</a>). Latchkey keeps only a hash of each key; every call made with one is in the Audit Log.</p>
${keys.length === 0
  ? html`<p class="muted">No API key yet.</p>`
  : html`<table>
<thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th></tr></thead>
<tbody>
${keys.map(
  (key) => html`<tr><td><a href="/admin/api-keys/${key.id}">${key.name}</a></td><td><code>${key.prefix}…</code></td><td>${key.scopes.join(', ')}</td><td>${STATE_LABELS[key.state]}</td>
<td>${when(key.createdAt)}</td><td>${when(key.lastUsedAt, 'Never')}</td><td>${when(key.expiresAt, 'Never')}</td></tr>`,
)}
</tbody>
</table>`}
</div>`;
}

export interface ApiKeyFormView {
  csrfToken: string;
  values: { name: string; scopes: string[]; expires: string };
  errors?: Record<string, string>;
  error?: string | null;
}

export function apiKeyForm(view: ApiKeyFormView): SafeHtml {
  const errors = view.errors ?? {};
  const fieldError = (name: string) => (errors[name] ? html`<span class="field-error" id="${name}-error">${errors[name]}</span>` : '');
  const described = (name: string) => (errors[name] ? html` aria-describedby="${name}-error" aria-invalid="true"` : '');
  return html`<div class="card narrow">
<h1>New API Key</h1>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
<form method="post" action="/admin/api-keys">
<input type="hidden" name="_csrf" value="${view.csrfToken}">
<label for="name">Name</label><input id="name" name="name" type="text" maxlength="100" value="${view.values.name}" required placeholder="HR onboarding script"${described('name')}>${fieldError('name')}
<fieldset class="choices"${described('scopes')}><legend>Scopes</legend>
${API_SCOPES.map(
  (scope) => html`<label class="check"><input type="checkbox" name="scopes" value="${scope}"${view.values.scopes.includes(scope) ? html` checked` : ''}> ${scope} <span class="muted">(${SCOPE_DESCRIPTIONS[scope]})</span></label>`,
)}
</fieldset>${fieldError('scopes')}
<label for="expires">Expires (optional, the end of that day in UTC)</label><input id="expires" name="expires" type="date" value="${view.values.expires}"${described('expires')}>${fieldError('expires')}
<button type="submit">Create API Key</button>
</form>
<p><a href="/admin/api-keys">Back to API Keys</a></p>
</div>`;
}

export function keyShownOnce(key: ApiKey, secret: string): SafeHtml {
  return html`<div class="card narrow">
<h1>API Key Created</h1>
<p class="error" role="alert">Copy the key now: it will not be shown again. Latchkey keeps only a hash of it and cannot display it later; if it is lost, revoke it and create a new one.</p>
<dl class="details"><dt>Name</dt><dd>${key.name}</dd><dt>Scopes</dt><dd>${key.scopes.join(', ')}</dd></dl>
<label for="api-key">Key</label>
<input id="api-key" type="text" readonly value="${secret}" autocomplete="off" spellcheck="false">
<p class="muted">Send it as <code>Authorization: Bearer ${key.prefix}…</code> with every call.</p>
<p><a class="button" href="/admin/api-keys/${key.id}">Done</a></p>
</div>`;
}

export function apiKeyPage(key: ApiKey & { state: KeyState }, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${key.name}</h1>
<dl class="details">
<dt>Key</dt><dd><code>${key.prefix}…</code></dd>
<dt>Scopes</dt><dd>${key.scopes.map((scope) => html`${scope} <span class="muted">(${SCOPE_DESCRIPTIONS[scope]})</span><br>`)}</dd>
<dt>State</dt><dd>${STATE_LABELS[key.state]}${key.revokedAt !== null ? html` (${when(key.revokedAt)})` : ''}</dd>
<dt>Created</dt><dd>${when(key.createdAt)}</dd>
<dt>Last used</dt><dd>${when(key.lastUsedAt, 'Never')}</dd>
<dt>Expires</dt><dd>${when(key.expiresAt, 'Never')}</dd>
</dl>
<p><a href="/admin/audit?type=api_key.used">Calls made with API keys in the Audit Log</a></p>
${key.state === 'revoked'
  ? ''
  : html`<form method="post" action="/admin/api-keys/${key.id}/revoke">
<input type="hidden" name="_csrf" value="${csrfToken}">
<p>Revoking is immediate and cannot be undone: every call with this key is refused from then on.</p>
<button type="submit">Revoke API Key</button>
</form>`}
<p><a href="/admin/api-keys">Back to API Keys</a></p>
</div>`;
}
