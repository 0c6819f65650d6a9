// The Applications pages: the registered relying parties, one application's form, the confirmations and the secret shown once.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import { APPLICATION_SCOPES, type Application, type ApplicationKind, type ApplicationScope } from '../applications/applications.service.ts';

export const KIND_LABELS: Record<ApplicationKind, string> = { confidential: 'Confidential', public: 'Public' };

const KIND_HINTS: Record<ApplicationKind, string> = {
  confidential: 'runs on a server that can keep a client secret',
  public: 'runs in a browser or on a device; no secret, PKCE required',
};

const SCOPE_HINTS: Record<ApplicationScope, string> = {
  openid: 'signing in (always allowed)',
  profile: 'the person’s name',
  email: 'the email address and whether it is verified',
  offline_access: 'staying signed in with refresh tokens',
  latchkey_admin: 'whether the person is a Latchkey administrator',
};

const partyLabel = (application: Application) => (application.firstParty ? 'First-party' : 'Third-party');

export const NOTICES = {
  created: 'The application was registered.',
  saved: 'The changes were saved.',
  removed: 'The application was removed.',
  'secret-shown': 'The client secret was shown once and cannot be shown again. If it was not copied, rotate it.',
};

export function applicationsList(applications: Application[]): SafeHtml {
  return html`<div class="card">
<h1>Applications</h1>
<p><a class="button" href="/admin/applications/new">New Application</a></p>
<p class="muted">Applications that let people sign in with Latchkey over OpenID Connect.</p>
${applications.length === 0
  ? html`<p class="muted">No application is registered yet.</p>`
  : html`<table>
<thead><tr><th>Name</th><th>Client ID</th><th>Type</th><th>Consent</th><th>Redirect URIs</th></tr></thead>
<tbody>
${applications.map(
  (application) => html`<tr><td><a href="/admin/applications/${application.id}">${application.name}</a></td><td><code>${application.id}</code></td><td>${KIND_LABELS[application.kind]}</td><td>${partyLabel(application)}</td>
<td>${application.redirectUris.map((uri, index) => html`${index > 0 ? html`<br>` : ''}${uri}`)}</td></tr>`,
)}
</tbody>
</table>`}
</div>`;
}

export interface ApplicationFormView {
  application: Application | null;
  csrfToken: string;
  values: { name: string; kind: string; firstParty: boolean; redirectUris: string; postLogoutRedirectUris: string; scopes: string[] };
  errors?: Record<string, string>;
  error?: string | null;
}

export function applicationForm(view: ApplicationFormView): SafeHtml {
  const { values, application } = view;
  const errors = view.errors ?? {};
  const fieldError = (name: string) => (errors[name] ? html`<span class="field-error" id="${name}-error">${errors[name]}</span>` : '');
  const described = (name: string) => (errors[name] ? html` aria-describedby="${name}-error" aria-invalid="true"` : '');
  const action = application ? `/admin/applications/${application.id}` : '/admin/applications';
  return html`<div class="card narrow">
<h1>${application ? application.name : 'New Application'}</h1>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
${application ? html`<dl class="details"><dt>Client ID</dt><dd><code>${application.id}</code></dd><dt>Type</dt><dd>${KIND_LABELS[application.kind]}</dd></dl>` : ''}
<form method="post" action="${action}">
${csrfField(view.csrfToken)}
<label for="name">Name</label><input id="name" name="name" type="text" maxlength="100" value="${values.name}" required${described('name')}>${fieldError('name')}
<label for="redirect-uris">Redirect URIs (one per line)</label>
<textarea id="redirect-uris" name="redirectUris" rows="3" required placeholder="https://app.example.com/callback"${described('redirectUris')}>${values.redirectUris}</textarea>${fieldError('redirectUris')}
<p class="muted">Matched exactly. https:// only; http:// only for localhost, 127.0.0.1 or [::1].</p>
<label for="post-logout-redirect-uris">Post-Logout Redirect URIs (one per line)</label>
<textarea id="post-logout-redirect-uris" name="postLogoutRedirectUris" rows="2"${described('postLogoutRedirectUris')}>${values.postLogoutRedirectUris}</textarea>${fieldError('postLogoutRedirectUris')}
${application
  ? html`<input type="hidden" name="kind" value="${application.kind}">`
  : html`<fieldset class="choices"><legend>Type</legend>
${(Object.keys(KIND_LABELS) as ApplicationKind[]).map(
  (kind) => html`<label class="check"><input type="radio" name="kind" value="${kind}"${values.kind === kind ? html` checked` : ''}> ${KIND_LABELS[kind]} <span class="muted">(${KIND_HINTS[kind]})</span></label>`,
)}
</fieldset>`}${fieldError('kind')}
<p><label class="check"><input type="checkbox" name="firstParty" value="yes"${values.firstParty ? html` checked` : ''}> First-party (no consent screen)</label></p>
<fieldset class="choices"><legend>Allowed scopes</legend>
${APPLICATION_SCOPES.map((scope) =>
  scope === 'openid'
    ? html`<label class="check"><input type="checkbox" checked disabled> openid <span class="muted">(${SCOPE_HINTS[scope]})</span></label>`
    : html`<label class="check"><input type="checkbox" name="scopes" value="${scope}"${values.scopes.includes(scope) ? html` checked` : ''}> ${scope} <span class="muted">(${SCOPE_HINTS[scope]})</span></label>`,
)}
</fieldset>${fieldError('scopes')}
<button type="submit">${application ? 'Save' : 'Register Application'}</button>
</form>
${application
  ? html`<p>${application.kind === 'confidential' ? html`<a class="button secondary" href="/admin/applications/${application.id}/rotate-secret">Rotate Secret</a> ` : ''}<a class="button secondary" href="/admin/applications/${application.id}/remove">Remove Application</a></p>`
  : ''}
<p><a href="/admin/applications">Back to Applications</a></p>
</div>`;
}

export function removeConfirm(application: Application, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>Remove Application</h1>
<p>Remove ${application.name}? People can no longer sign in to it with Latchkey, and its client ID and secret stop working at once.</p>
<form method="post" action="/admin/applications/${application.id}/remove">
${csrfField(csrfToken)}
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/applications/${application.id}">Cancel</a>
</form>
</div>`;
}

export function rotateConfirm(application: Application, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>Rotate Secret</h1>
<p>Give ${application.name} a new client secret? The current secret stops working at once: the application cannot sign anyone in until its settings hold the new one.</p>
<form method="post" action="/admin/applications/${application.id}/rotate-secret">
${csrfField(csrfToken)}
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/applications/${application.id}">Cancel</a>
</form>
</div>`;
}

/** The client secret, on the one page that ever shows it. */
export function secretShownOnce(application: Application, secret: string, heading: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${heading}</h1>
<p class="error" role="alert">Copy the client secret now: it will not be shown again. Latchkey keeps it encrypted and cannot display it later; if it is lost, rotate it.</p>
<dl class="details"><dt>Application</dt><dd>${application.name}</dd><dt>Client ID</dt><dd><code>${application.id}</code></dd></dl>
<label for="client-secret">Client Secret</label>
<input id="client-secret" type="text" readonly value="${secret}" autocomplete="off" spellcheck="false">
<p><a class="button" href="/admin/applications/${application.id}">Done</a></p>
</div>`;
}
