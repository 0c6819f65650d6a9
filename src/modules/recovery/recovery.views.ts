// The pages of the reset flow: request, "check your email", the new-password form, and why a link cannot be used.
import { html } from '../../views/html.ts';
import { page } from '../../views/layout.ts';
import { csrfField, newPasswordFields, passwordRefusal } from '../../views/components.ts';
import type { UnusableState } from './recovery.service.ts';

export const LINK_STATES: Record<UnusableState, { title: string; explanation: string }> = {
  expired: { title: 'This link has expired', explanation: 'Reset links are only valid for a limited time.' },
  used: { title: 'This link has already been used', explanation: 'Each reset link works once. If you did not change your password yourself, request a new link now.' },
  replaced: { title: 'This link was replaced by a newer one', explanation: 'A newer reset link was sent after this one; only the newest link works. Use the latest email, or request a new link.' },
  invalid: { title: 'This link is not valid', explanation: 'The link is incomplete, was voided by a later password change, or was never issued.' },
};

export function requestPage(options: { csrfToken: string; email?: string; error?: string | null; next?: string }): string {
  return page({
    title: 'Reset Password',
    body: html`<div class="card narrow">
<h1>Reset Password</h1>
<p>Enter the email address of your account and we will send you a link to choose a new password.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/reset-password${options.next ? `?next=${encodeURIComponent(options.next)}` : ''}">
  ${csrfField(options.csrfToken)}
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${options.email ?? ''}" autofocus>
  <button type="submit">Reset Password</button>
</form>
<p><a href="/login">Back to log in</a></p>
</div>`,
  });
}

export function requestSentPage(validity: string): string {
  return page({
    title: 'Check your email',
    body: html`<div class="card narrow">
<h1>Check your email</h1>
<p role="status">If an account exists for this address, password reset instructions have been sent to it.</p>
<p>The link in the email is valid for ${validity} and works once. If nothing arrives within a few minutes, check your spam folder or <a href="/reset-password">ask again</a>.</p>
<p><a href="/login">Back to log in</a></p>
</div>`,
  });
}

export function newPasswordPage(options: { csrfToken: string; name: string; rules: string[]; broken?: string[]; error?: string | null }): string {
  return page({
    title: 'Choose a new password',
    body: html`<div class="card narrow">
<h1>Choose a new password</h1>
<p>Hello ${options.name}, choose the new password of your account.</p>
${passwordRefusal(options.broken, options.error)}
<form method="post" action="/reset-password/new">
  ${csrfField(options.csrfToken)}
  ${newPasswordFields(options.rules)}
  <button type="submit">Change Password</button>
</form>
</div>`,
  });
}

/** After a reset begun from an application's sign-in: the browser goes on by itself (a Refresh header); the link is for when it does not. */
export function continueSignInPage(next: string): string {
  return page({
    title: 'Password changed',
    body: html`<div class="card narrow">
<h1>Password changed</h1>
<p role="status">Your password was changed. Every other session has been logged out.</p>
<p><a class="button" href="${next}">Continue signing in</a></p>
</div>`,
  });
}

export function unusableLinkPage(state: UnusableState): string {
  const { title, explanation } = LINK_STATES[state];
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${explanation}</p>
<p><a class="button" href="/reset-password">Request a new link</a></p>
</div>`,
  });
}
