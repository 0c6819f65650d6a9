// The pages of the reset flow: request, "check your email", the new-password form, and why a link cannot be used.
import { html } from '../../views/html.ts';
import { page } from '../../views/layout.ts';
import { csrfField, newPasswordFields, passwordRefusal } from '../../views/components.ts';
import type { UnusableState } from './recovery.service.ts';
import type { LinkPurpose } from './reset-links.repo.ts';

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

/** The new-password form; an invitation's link shows it as the first password of a new account. */
export function newPasswordPage(options: { csrfToken: string; name: string; rules: string[]; purpose?: LinkPurpose; action?: string; broken?: string[]; error?: string | null }): string {
  const invitation = options.purpose === 'invitation';
  const title = invitation ? 'Choose Your Password' : 'Choose a new password';
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${invitation ? `Welcome, ${options.name}. Choose the password of your new account; your email address is your user name.` : `Hello ${options.name}, choose the new password of your account.`}</p>
${passwordRefusal(options.broken, options.error)}
<form method="post" action="${options.action ?? '/reset-password/new'}">
  ${csrfField(options.csrfToken)}
  ${newPasswordFields(options.rules)}
  <button type="submit">${invitation ? 'Choose Password' : 'Change Password'}</button>
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

/** Why an invitation's link cannot be used, where it differs from a reset link's reason. */
const INVITATION_STATES: Partial<Record<UnusableState, string>> = {
  expired: 'Invitations are only valid for a limited time. Ask your administrator to resend the invitation, or request a link to choose a password below.',
  replaced: 'A newer invitation was sent after this one; only the newest link works. Use the latest email.',
};

/** Why a link that confirms an address (or undoes a change) cannot be used. */
const ADDRESS_STATES: Record<UnusableState, string> = {
  expired: 'Links that confirm an address are only valid for a limited time. Ask for a new one from your account page, or ask your administrator.',
  used: 'Each link works once, and this one has done its work.',
  replaced: 'A newer link was sent after this one; only the newest link works. Use the latest email.',
  invalid: 'The link is incomplete, was voided by a later change of address or password, or was never issued.',
};

/** `purpose`: what the link was for, when known; a link that sets no password explains itself differently. */
export function unusableLinkPage(state: UnusableState, purpose?: LinkPurpose): string {
  const { title } = LINK_STATES[state];
  const addressLink = purpose !== undefined && purpose !== 'reset' && purpose !== 'invitation';
  const explanation = addressLink ? ADDRESS_STATES[state] : ((purpose === 'invitation' ? INVITATION_STATES[state] : undefined) ?? LINK_STATES[state].explanation);
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${explanation}</p>
${addressLink
  ? html`<p><a class="button" href="/account">Go to your account</a></p>`
  : html`<p><a class="button" href="/reset-password">Request a new link</a></p>`}
</div>`,
  });
}
