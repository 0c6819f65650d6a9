// The provider's pages in Latchkey's layout: consent, logout confirmation, logged out, and protocol errors.
// (The login form is Latchkey's own, see sessions/auth.views.ts.)
import { html, SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import { page } from '../../views/layout.ts';
import { t } from '../../infra/i18n.ts';

/** What each scope lets an application do, as the consent screen says it (looked up in the reader's language). */
const SCOPE_WORDS: Record<string, () => string> = {
  openid: () => t('oidc.scopes.openid'),
  profile: () => t('oidc.scopes.profile'),
  email: () => t('oidc.scopes.email'),
  latchkey_admin: () => t('oidc.scopes.latchkeyAdmin'),
  offline_access: () => t('oidc.scopes.offlineAccess'),
};

export function scopeWords(scopes: string[]): string[] {
  return scopes.filter((scope) => Object.hasOwn(SCOPE_WORDS, scope)).map((scope) => SCOPE_WORDS[scope]!());
}

/** The line above the login form when an application sent the person. */
export function loginIntro(application: string): string {
  return t('oidc.login.intro', { application });
}

/** The page of a sign-in that is no longer this browser's, or already done. */
export function expiredSignIn(): { title: string; message: string } {
  return { title: t('oidc.expired.title'), message: t('oidc.expired.message') };
}

/** The page of a sign-in Latchkey has no step for. */
export function failedSignIn(): { title: string; message: string } {
  return { title: t('oidc.error.title'), message: t('oidc.error.cannotComplete') };
}

export function consentView(options: { csrfToken: string; action: string; application: string; scopes: string[]; viewer: { name: string; email: string } }): string {
  return page({
    title: t('oidc.consent.title', { application: options.application }),
    body: html`<div class="card narrow">
<h1>${t('oidc.consent.heading', { application: options.application })}</h1>
<ul>${scopeWords(options.scopes).map((words) => html`<li>${words}</li>`)}</ul>
<p class="muted">${t('oidc.consent.signedInAs', { name: options.viewer.name, email: options.viewer.email })}</p>
<form method="post" action="${options.action}/confirm" class="inline">
  ${csrfField(options.csrfToken)}
  <button type="submit">${t('oidc.consent.allow')}</button>
</form>
<form method="post" action="${options.action}/abort" class="inline">
  ${csrfField(options.csrfToken)}
  <button type="submit" class="secondary">${t('oidc.consent.cancel')}</button>
</form>
</div>`,
  });
}

/** The logout confirmation; `form` is the provider's own form (its id and anti-forgery field), which the buttons submit. */
export function logoutView(application: string | null, form: string): string {
  return page({
    title: t('oidc.logout.title'),
    body: html`<div class="card narrow">
<h1>${t('oidc.logout.title')}</h1>
<p>${application ? t('oidc.logout.askedBy', { application }) : t('oidc.logout.askedByUnknown')} ${t('oidc.logout.question')}</p>
${rawForm(form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes">${t('oidc.logout.confirm')}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t('oidc.logout.stay')}</button>
</div>`,
  });
}

export function logoutDoneView(application: string | null): string {
  return page({
    title: t('oidc.loggedOut.title'),
    body: html`<div class="card narrow">
<h1>${t('oidc.loggedOut.title')}</h1>
<p role="status">${application ? t('oidc.loggedOut.fromApplication', { application }) : t('oidc.loggedOut.done')}</p>
<p><a href="/login">${t('oidc.loggedOut.again')}</a></p>
</div>`,
  });
}

/** A request from an application that cannot be answered: the protocol's error code and its description. */
export function errorView(error: string, description: string | undefined): string {
  return page({
    title: t('oidc.error.title'),
    body: html`<div class="card narrow">
<h1>${t('oidc.error.title')}</h1>
<p class="error" role="alert">${t('oidc.error.message', { description: description ?? error })}</p>
<p class="muted">${t('oidc.error.code', { code: error })}</p>
<p><a href="/">${t('oidc.error.back')}</a></p>
</div>`,
  });
}

/** The provider's form, which it builds from its own escaped values. */
function rawForm(form: string): SafeHtml {
  return new SafeHtml(form);
}
