// The provider's pages in Latchkey's layout: consent, logout confirmation, logged out, and protocol errors.
// (The login form is Latchkey's own, see sessions/auth.views.ts.)
import { html, SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import { page } from '../../views/layout.ts';

/** What each scope lets an application do, as the consent screen says it. */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'know who you are on Latchkey',
  profile: 'see your name',
  email: 'see your email address',
  latchkey_admin: 'see whether you are a Latchkey administrator',
  offline_access: 'stay signed in when you are not using it',
};

export function scopeWords(scopes: string[]): string[] {
  return scopes.filter((scope) => Object.hasOwn(SCOPE_WORDS, scope)).map((scope) => SCOPE_WORDS[scope]!);
}

export function consentView(options: { csrfToken: string; action: string; application: string; scopes: string[]; viewer: { name: string; email: string } }): string {
  return page({
    title: `Allow ${options.application}`,
    body: html`<div class="card narrow">
<h1>${options.application} wants to:</h1>
<ul>${scopeWords(options.scopes).map((words) => html`<li>${words}</li>`)}</ul>
<p class="muted">You are signed in to Latchkey as ${options.viewer.name} (${options.viewer.email}).</p>
<form method="post" action="${options.action}/confirm" class="inline">
  ${csrfField(options.csrfToken)}
  <button type="submit">Allow</button>
</form>
<form method="post" action="${options.action}/abort" class="inline">
  ${csrfField(options.csrfToken)}
  <button type="submit" class="secondary">Cancel</button>
</form>
</div>`,
  });
}

/** The logout confirmation; `form` is the provider's own form (its id and anti-forgery field), which the buttons submit. */
export function logoutView(application: string | null, form: string): string {
  return page({
    title: 'Log out',
    body: html`<div class="card narrow">
<h1>Log out</h1>
<p>${application ? `${application} asks to log you out.` : 'An application asks to log you out.'} Log out of Latchkey too?</p>
${rawForm(form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Log out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay logged in to Latchkey</button>
</div>`,
  });
}

export function logoutDoneView(application: string | null): string {
  return page({
    title: 'Logged out',
    body: html`<div class="card narrow">
<h1>Logged out</h1>
<p role="status">${application ? `You are logged out of ${application}.` : 'You are logged out.'}</p>
<p><a href="/login">Log in again</a></p>
</div>`,
  });
}

/** A request from an application that cannot be answered: the protocol's error code and its description. */
export function errorView(error: string, description: string | undefined): string {
  return page({
    title: 'Sign-in failed',
    body: html`<div class="card narrow">
<h1>Sign-in failed</h1>
<p class="error" role="alert">The application's request could not be completed: ${description ?? error}</p>
<p class="muted">Error code: ${error}</p>
<p><a href="/">Back to Latchkey</a></p>
</div>`,
  });
}

/** The provider's form, which it builds from its own escaped values. */
function rawForm(form: string): SafeHtml {
  return new SafeHtml(form);
}
