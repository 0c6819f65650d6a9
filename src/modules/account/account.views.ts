// The /account page: who you are, change your password, your sessions, the applications you are signed in to.
import { html } from '../../views/html.ts';
import { t } from '../../infra/i18n.ts';
import { userAgentCell } from '../../views/user-agent.ts';
import { page, type Viewer } from '../../views/layout.ts';
import { csrfField, newPasswordFields, passwordRefusal, when } from '../../views/components.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import type { SignedInApplication } from '../applications/applications.service.ts';
import { scopeWords } from '../oidc/interactions.views.ts';
import type { TwoStepMethods } from '../twostep/twostep.service.ts';
import { twoStepCard } from '../twostep/twostep.views.ts';
import { languageCard } from './language.views.ts';

export interface AccountView {
  viewer: Viewer & { email: string };
  /** When the address was last proven; null: not yet. */
  emailVerifiedAt: number | null;
  /** The user's own language; null: the browser's. */
  language: string | null;
  languageError?: string;
  /** The "Change Email" form sent back with what was wrong. */
  emailForm?: { email: string; error: string };
  csrfToken: string;
  sessions: Session[];
  applications: SignedInApplication[];
  twoStep: TwoStepMethods;
  currentSession: string;
  rules: string[];
  notice?: string | null;
  broken?: string[];
  error?: string | null;
}

export function accountPage(view: AccountView): string {
  return page({
    title: t('account.title'),
    viewer: view.viewer,
    csrfToken: view.csrfToken,
    notice: view.notice,
    body: html`<div class="card">
<h1>${t('account.title')}</h1>
<p><strong>${view.viewer.name}</strong><br><span data-testid="account-email">${view.viewer.email}</span></p>
<p>${view.emailVerifiedAt === null ? t('account.emailNotVerified') : t('account.emailVerified', { date: when(view.emailVerifiedAt) })}</p>
</div>
<div class="card">
<h2>${t('account.changeEmail.title')}</h2>
<p>${t('account.changeEmail.intro')}</p>
${view.emailForm ? html`<p class="error" role="alert">${view.emailForm.error}</p>` : ''}
<form method="post" action="/account/email">
  ${csrfField(view.csrfToken)}
  <label for="new-email">${t('account.changeEmail.newEmail')}</label>
  <input id="new-email" name="email" type="email" autocomplete="email" required maxlength="254" value="${view.emailForm?.email ?? ''}">
  <label for="email-current">${t('account.changeEmail.password')}</label>
  <input id="email-current" name="current" type="password" autocomplete="current-password" required maxlength="1024">
  <button type="submit">${t('account.changeEmail.submit')}</button>
</form>
</div>
<div class="card">
<h2>${t('account.changePassword.title')}</h2>
${passwordRefusal(view.broken, view.error)}
<form method="post" action="/account/password">
  ${csrfField(view.csrfToken)}
  <label for="current">${t('account.changePassword.current')}</label>
  <input id="current" name="current" type="password" autocomplete="current-password" required maxlength="1024">
  ${newPasswordFields(view.rules)}
  <button type="submit">${t('account.changePassword.submit')}</button>
</form>
</div>
${languageCard(view.language, view.csrfToken, view.languageError)}
${twoStepCard(view.twoStep, view.csrfToken)}
<div class="card">
<h2>${t('account.sessions.title')}</h2>
<table>
<thead><tr><th>${t('account.sessions.started')}</th><th>${t('account.sessions.lastActive')}</th><th>${t('account.sessions.address')}</th><th>${t('account.sessions.browser')}</th></tr></thead>
<tbody>${view.sessions.map(
      (session) => html`<tr><td>${when(session.created_at)}${session.id_hash === view.currentSession ? html` <strong>${t('account.sessions.current')}</strong>` : ''}</td><td>${when(session.last_seen_at)}</td><td>${session.ip}</td>${userAgentCell(session.user_agent)}</tr>`,
    )}</tbody>
</table>
<form method="post" action="/account/sessions/end-others">${csrfField(view.csrfToken)}<button type="submit" class="secondary">${t('account.sessions.endOthers')}</button></form>
</div>
${applicationsCard(view.applications, view.csrfToken)}`,
  });
}

/** "Applications": each one signed in with this account, since when, what it may see, and "Revoke". */
function applicationsCard(applications: SignedInApplication[], csrfToken: string) {
  return html`<div class="card" id="applications">
<h2>${t('account.applications.title')}</h2>
${applications.length === 0
    ? html`<p>${t('account.applications.none')}</p>`
    : html`<p>${t('account.applications.intro')}</p>
<table>
<thead><tr><th>${t('account.applications.application')}</th><th>${t('account.applications.since')}</th><th>${t('account.applications.allowedTo')}</th><th><span class="visually-hidden">${t('account.applications.action')}</span></th></tr></thead>
<tbody>${applications.map(
        (application) => html`<tr><td>${application.name}</td><td>${when(application.since)}</td><td><ul>${application.scopes.map(
          (scope) => html`<li>${scopeWords([scope])[0] ?? scope} <code>${scope}</code></li>`,
        )}</ul></td><td><form method="post" action="/account/applications/revoke" class="inline">${csrfField(csrfToken)}<input type="hidden" name="application" value="${application.clientId}"><button type="submit" class="secondary">${t('account.applications.revoke')}<span class="visually-hidden"> ${application.name}</span></button></form></td></tr>`,
      )}</tbody>
</table>`}
</div>`;
}
