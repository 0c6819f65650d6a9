// The API Keys pages: the keys with their scopes and state, the form for a new key, the key shown once, revoking.
import { html, type SafeHtml } from '../../views/html.ts';
import { API_SCOPES, SCOPE_DESCRIPTIONS, type ApiKey, type KeyState } from '../apikeys/apikeys.service.ts';
import { t } from '../../infra/i18n.ts';
import { when } from '../../views/components.ts';

// Functions, called as a page is rendered: only then is the reader's language known.
const STATE_LABELS: Record<KeyState, () => string> = {
  active: () => t('apiKeys.state.active'),
  expired: () => t('apiKeys.state.expired'),
  revoked: () => t('apiKeys.state.revoked'),
};
/** A moment, or "Never" when there is none (a key never used, or that never expires). */
const whenOrNever = (ms: number | null) => (ms === null ? t('apiKeys.never') : when(ms));

export const NOTICES = {
  revoked: () => t('apiKeys.notice.revoked'),
  'key-shown': () => t('apiKeys.notice.keyShown'),
};

export function apiKeysList(keys: Array<ApiKey & { state: KeyState }>): SafeHtml {
  return html`<div class="card">
<h1>${t('apiKeys.title')}</h1>
<p><a class="button" href="/admin/api-keys/new">${t('apiKeys.new')}</a></p>
<p class="muted">${t('apiKeys.introBefore')} (<a href="/api/docs">${t('apiKeys.docs')}</a>). ${t('apiKeys.introAfter')}</p>
${keys.length === 0
  ? html`<p class="muted">${t('apiKeys.none')}</p>`
  : html`<table>
<thead><tr><th scope="col">${t('apiKeys.field.name')}</th><th scope="col">${t('apiKeys.field.key')}</th><th scope="col">${t('apiKeys.field.scopes')}</th><th scope="col">${t('apiKeys.field.state')}</th><th scope="col">${t('apiKeys.field.created')}</th><th scope="col">${t('apiKeys.field.lastUsed')}</th><th scope="col">${t('apiKeys.field.expires')}</th></tr></thead>
<tbody>
${keys.map(
  (key) => html`<tr><td><a href="/admin/api-keys/${key.id}">${key.name}</a></td><td><code>${key.prefix}…</code></td><td>${key.scopes.join(', ')}</td><td>${STATE_LABELS[key.state]()}</td>
<td>${when(key.createdAt)}</td><td>${whenOrNever(key.lastUsedAt)}</td><td>${whenOrNever(key.expiresAt)}</td></tr>`,
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
<h1>${t('apiKeys.new')}</h1>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
<form method="post" action="/admin/api-keys">
<input type="hidden" name="_csrf" value="${view.csrfToken}">
<label for="name">${t('apiKeys.field.name')}</label><input id="name" name="name" type="text" maxlength="100" value="${view.values.name}" required placeholder="${t('apiKeys.nameHint')}"${described('name')}>${fieldError('name')}
<fieldset class="choices"${described('scopes')}><legend>${t('apiKeys.field.scopes')}</legend>
${API_SCOPES.map(
  (scope) => html`<label class="check"><input type="checkbox" name="scopes" value="${scope}"${view.values.scopes.includes(scope) ? html` checked` : ''}> ${scope} <span class="muted">(${SCOPE_DESCRIPTIONS[scope]})</span></label>`,
)}
</fieldset>${fieldError('scopes')}
<label for="expires">${t('apiKeys.expiresLabel')}</label><input id="expires" name="expires" type="date" value="${view.values.expires}"${described('expires')}>${fieldError('expires')}
<button type="submit">${t('apiKeys.create')}</button>
</form>
<p><a href="/admin/api-keys">${t('apiKeys.back')}</a></p>
</div>`;
}

export function keyShownOnce(key: ApiKey, secret: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('apiKeys.created')}</h1>
<p class="error" role="alert">${t('apiKeys.copyNow')}</p>
<dl class="details"><dt>${t('apiKeys.field.name')}</dt><dd>${key.name}</dd><dt>${t('apiKeys.field.scopes')}</dt><dd>${key.scopes.join(', ')}</dd></dl>
<label for="api-key">${t('apiKeys.field.key')}</label>
<input id="api-key" type="text" readonly value="${secret}" autocomplete="off" spellcheck="false">
<p class="muted">${t('apiKeys.sendAs')} <code>Authorization: Bearer ${key.prefix}…</code> ${t('apiKeys.sendAsAfter')}</p>
<p><a class="button" href="/admin/api-keys/${key.id}">${t('apiKeys.done')}</a></p>
</div>`;
}

export function apiKeyPage(key: ApiKey & { state: KeyState }, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${key.name}</h1>
<dl class="details">
<dt>${t('apiKeys.field.key')}</dt><dd><code>${key.prefix}…</code></dd>
<dt>${t('apiKeys.field.scopes')}</dt><dd>${key.scopes.map((scope) => html`${scope} <span class="muted">(${SCOPE_DESCRIPTIONS[scope]})</span><br>`)}</dd>
<dt>${t('apiKeys.field.state')}</dt><dd>${STATE_LABELS[key.state]()}${key.revokedAt !== null ? html` (${when(key.revokedAt)})` : ''}</dd>
<dt>${t('apiKeys.field.created')}</dt><dd>${when(key.createdAt)}</dd>
<dt>${t('apiKeys.field.lastUsed')}</dt><dd>${whenOrNever(key.lastUsedAt)}</dd>
<dt>${t('apiKeys.field.expires')}</dt><dd>${whenOrNever(key.expiresAt)}</dd>
</dl>
<p><a href="/admin/audit?type=api_key.used">${t('apiKeys.calls')}</a></p>
${key.state === 'revoked'
  ? ''
  : html`<form method="post" action="/admin/api-keys/${key.id}/revoke">
<input type="hidden" name="_csrf" value="${csrfToken}">
<p>${t('apiKeys.revokeNote')}</p>
<button type="submit">${t('apiKeys.revoke')}</button>
</form>`}
<p><a href="/admin/api-keys">${t('apiKeys.back')}</a></p>
</div>`;
}
