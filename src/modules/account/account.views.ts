// The /account page: who you are, change your password, your sessions, the applications you are signed in to.
import { html } from '../../views/html.ts';
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
    title: 'Your account',
    viewer: view.viewer,
    csrfToken: view.csrfToken,
    notice: view.notice,
    body: html`<div class="card">
<h1>Your account</h1>
<p><strong>${view.viewer.name}</strong><br><span data-testid="account-email">${view.viewer.email}</span></p>
<p>Email Verified: ${view.emailVerifiedAt === null ? 'not yet' : when(view.emailVerifiedAt)}</p>
</div>
<div class="card">
<h2>Change Email</h2>
<p>A confirmation link goes to the new address; your account changes to it once you use the link. Your current address is told, with a way to undo the change.</p>
${view.emailForm ? html`<p class="error" role="alert">${view.emailForm.error}</p>` : ''}
<form method="post" action="/account/email">
  ${csrfField(view.csrfToken)}
  <label for="new-email">New Email</label>
  <input id="new-email" name="email" type="email" autocomplete="email" required maxlength="254" value="${view.emailForm?.email ?? ''}">
  <label for="email-current">Your Password</label>
  <input id="email-current" name="current" type="password" autocomplete="current-password" required maxlength="1024">
  <button type="submit">Change Email</button>
</form>
</div>
<div class="card">
<h2>Change Password</h2>
${passwordRefusal(view.broken, view.error)}
<form method="post" action="/account/password">
  ${csrfField(view.csrfToken)}
  <label for="current">Current Password</label>
  <input id="current" name="current" type="password" autocomplete="current-password" required maxlength="1024">
  ${newPasswordFields(view.rules)}
  <button type="submit">Change Password</button>
</form>
</div>
${languageCard(view.language, view.csrfToken, view.languageError)}
${twoStepCard(view.twoStep, view.csrfToken)}
<div class="card">
<h2>Active sessions</h2>
<table>
<thead><tr><th>Started</th><th>Last active</th><th>Address</th><th>Browser</th></tr></thead>
<tbody>${view.sessions.map(
      (session) => html`<tr><td>${when(session.created_at)}${session.id_hash === view.currentSession ? html` <strong>(this session)</strong>` : ''}</td><td>${when(session.last_seen_at)}</td><td>${session.ip}</td>${userAgentCell(session.user_agent)}</tr>`,
    )}</tbody>
</table>
<form method="post" action="/account/sessions/end-others">${csrfField(view.csrfToken)}<button type="submit" class="secondary">Log out other sessions</button></form>
</div>
${applicationsCard(view.applications, view.csrfToken)}`,
  });
}

/** "Applications": each one signed in with this account, since when, what it may see, and "Revoke". */
function applicationsCard(applications: SignedInApplication[], csrfToken: string) {
  return html`<div class="card" id="applications">
<h2>Applications</h2>
${applications.length === 0
    ? html`<p>You are not signed in to any application with your Latchkey account.</p>`
    : html`<p>Applications you are signed in to with your Latchkey account. "Revoke" ends an application's access: it will ask you to sign in again.</p>
<table>
<thead><tr><th>Application</th><th>Since</th><th>Allowed to</th><th><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>${applications.map(
        (application) => html`<tr><td>${application.name}</td><td>${when(application.since)}</td><td><ul>${application.scopes.map(
          (scope) => html`<li>${scopeWords([scope])[0] ?? scope} <code>${scope}</code></li>`,
        )}</ul></td><td><form method="post" action="/account/applications/revoke" class="inline">${csrfField(csrfToken)}<input type="hidden" name="application" value="${application.clientId}"><button type="submit" class="secondary">Revoke<span class="visually-hidden"> ${application.name}</span></button></form></td></tr>`,
      )}</tbody>
</table>`}
</div>`;
}
