// The Applications pages: the registered relying parties, one application's form, the confirmations and the secret shown once.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import { APPLICATION_SCOPES, type Application, type ApplicationKind, type ApplicationScope } from '../applications/applications.service.ts';
import { t } from '../../infra/i18n.ts';

// Functions, called as a page is rendered: only then is the reader's language known.
export const KIND_LABELS: Record<ApplicationKind, () => string> = {
  confidential: () => t('applications.kind.confidential'),
  public: () => t('applications.kind.public'),
};

const KIND_HINTS: Record<ApplicationKind, () => string> = {
  confidential: () => t('applications.kindHint.confidential'),
  public: () => t('applications.kindHint.public'),
};

const SCOPE_HINTS: Record<ApplicationScope, () => string> = {
  openid: () => t('applications.scopeHint.openid'),
  profile: () => t('applications.scopeHint.profile'),
  email: () => t('applications.scopeHint.email'),
  offline_access: () => t('applications.scopeHint.offlineAccess'),
  latchkey_admin: () => t('applications.scopeHint.latchkeyAdmin'),
};

const partyLabel = (application: Application) => (application.firstParty ? t('applications.firstParty') : t('applications.thirdParty'));

export const NOTICES = {
  created: () => t('applications.notice.created'),
  saved: () => t('applications.notice.saved'),
  removed: () => t('applications.notice.removed'),
  'secret-shown': () => t('applications.notice.secretShown'),
};

export function applicationsList(applications: Application[]): SafeHtml {
  return html`<div class="card">
<h1>${t('applications.title')}</h1>
<p><a class="button" href="/admin/applications/new">${t('applications.new')}</a></p>
<p class="muted">${t('applications.intro')}</p>
${applications.length === 0
  ? html`<p class="muted">${t('applications.none')}</p>`
  : html`<table>
<thead><tr><th>${t('applications.field.name')}</th><th>${t('applications.field.clientId')}</th><th>${t('applications.field.type')}</th><th>${t('applications.field.consent')}</th><th>${t('applications.field.redirectUris')}</th></tr></thead>
<tbody>
${applications.map(
  (application) => html`<tr><td><a href="/admin/applications/${application.id}">${application.name}</a></td><td><code>${application.id}</code></td><td>${KIND_LABELS[application.kind]()}</td><td>${partyLabel(application)}</td>
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
<h1>${application ? application.name : t('applications.new')}</h1>
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
${application ? html`<dl class="details"><dt>${t('applications.field.clientId')}</dt><dd><code>${application.id}</code></dd><dt>${t('applications.field.type')}</dt><dd>${KIND_LABELS[application.kind]()}</dd></dl>` : ''}
<form method="post" action="${action}">
${csrfField(view.csrfToken)}
<label for="name">${t('applications.field.name')}</label><input id="name" name="name" type="text" maxlength="100" value="${values.name}" required${described('name')}>${fieldError('name')}
<label for="redirect-uris">${t('applications.redirectUrisLabel')}</label>
<textarea id="redirect-uris" name="redirectUris" rows="3" required placeholder="https://app.example.com/callback"${described('redirectUris')}>${values.redirectUris}</textarea>${fieldError('redirectUris')}
<p class="muted">${t('applications.redirectUrisHint')}</p>
<label for="post-logout-redirect-uris">${t('applications.postLogoutLabel')}</label>
<textarea id="post-logout-redirect-uris" name="postLogoutRedirectUris" rows="2"${described('postLogoutRedirectUris')}>${values.postLogoutRedirectUris}</textarea>${fieldError('postLogoutRedirectUris')}
${application
  ? html`<input type="hidden" name="kind" value="${application.kind}">`
  : html`<fieldset class="choices"><legend>${t('applications.field.type')}</legend>
${(Object.keys(KIND_LABELS) as ApplicationKind[]).map(
  (kind) => html`<label class="check"><input type="radio" name="kind" value="${kind}"${values.kind === kind ? html` checked` : ''}> ${KIND_LABELS[kind]()} <span class="muted">(${KIND_HINTS[kind]()})</span></label>`,
)}
</fieldset>`}${fieldError('kind')}
<p><label class="check"><input type="checkbox" name="firstParty" value="yes"${values.firstParty ? html` checked` : ''}> ${t('applications.firstPartyLabel')}</label></p>
<fieldset class="choices"><legend>${t('applications.scopes')}</legend>
${APPLICATION_SCOPES.map((scope) =>
  scope === 'openid'
    ? html`<label class="check"><input type="checkbox" checked disabled> openid <span class="muted">(${SCOPE_HINTS[scope]()})</span></label>`
    : html`<label class="check"><input type="checkbox" name="scopes" value="${scope}"${values.scopes.includes(scope) ? html` checked` : ''}> ${scope} <span class="muted">(${SCOPE_HINTS[scope]()})</span></label>`,
)}
</fieldset>${fieldError('scopes')}
<button type="submit">${application ? t('applications.save') : t('applications.register')}</button>
</form>
${application
  ? html`<p>${application.kind === 'confidential' ? html`<a class="button secondary" href="/admin/applications/${application.id}/rotate-secret">${t('applications.rotate')}</a> ` : ''}<a class="button secondary" href="/admin/applications/${application.id}/remove">${t('applications.remove')}</a></p>`
  : ''}
<p><a href="/admin/applications">${t('applications.back')}</a></p>
</div>`;
}

export function removeConfirm(application: Application, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('applications.remove')}</h1>
<p>${t('applications.removeQuestion', { name: application.name })}</p>
<form method="post" action="/admin/applications/${application.id}/remove">
${csrfField(csrfToken)}
<button type="submit">${t('applications.confirm')}</button> <a class="button secondary" href="/admin/applications/${application.id}">${t('applications.cancel')}</a>
</form>
</div>`;
}

export function rotateConfirm(application: Application, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('applications.rotate')}</h1>
<p>${t('applications.rotateQuestion', { name: application.name })}</p>
<form method="post" action="/admin/applications/${application.id}/rotate-secret">
${csrfField(csrfToken)}
<button type="submit">${t('applications.confirm')}</button> <a class="button secondary" href="/admin/applications/${application.id}">${t('applications.cancel')}</a>
</form>
</div>`;
}

/** The client secret, on the one page that ever shows it. */
export function secretShownOnce(application: Application, secret: string, heading: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${heading}</h1>
<p class="error" role="alert">${t('applications.copyNow')}</p>
<dl class="details"><dt>${t('applications.field.application')}</dt><dd>${application.name}</dd><dt>${t('applications.field.clientId')}</dt><dd><code>${application.id}</code></dd></dl>
<label for="client-secret">${t('applications.field.clientSecret')}</label>
<input id="client-secret" type="text" readonly value="${secret}" autocomplete="off" spellcheck="false">
<p><a class="button" href="/admin/applications/${application.id}">${t('applications.done')}</a></p>
</div>`;
}
