// The pages of the reset flow: request, "check your email", the new-password form, and why a link cannot be used.
import { html } from '../../views/html.ts';
import { t } from '../../infra/i18n.ts';
import { page } from '../../views/layout.ts';
import { csrfField, newPasswordFields, passwordRefusal } from '../../views/components.ts';
import type { UnusableState } from './recovery.service.ts';
import type { LinkPurpose } from './reset-links.repo.ts';

// Functions, so each text is read in the language of the request that shows it.
export const LINK_STATES: Record<UnusableState, () => { title: string; explanation: string }> = {
  expired: () => ({ title: t('recovery.link.expired.title'), explanation: t('recovery.link.expired.explanation') }),
  used: () => ({ title: t('recovery.link.used.title'), explanation: t('recovery.link.used.explanation') }),
  replaced: () => ({ title: t('recovery.link.replaced.title'), explanation: t('recovery.link.replaced.explanation') }),
  invalid: () => ({ title: t('recovery.link.invalid.title'), explanation: t('recovery.link.invalid.explanation') }),
};

export function requestPage(options: { csrfToken: string; email?: string; error?: string | null; next?: string }): string {
  return page({
    title: t('recovery.request.title'),
    body: html`<div class="card narrow">
<h1>${t('recovery.request.title')}</h1>
<p>${t('recovery.request.intro')}</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/reset-password${options.next ? `?next=${encodeURIComponent(options.next)}` : ''}">
  ${csrfField(options.csrfToken)}
  <label for="email">${t('recovery.request.email')}</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${options.email ?? ''}" autofocus>
  <button type="submit">${t('recovery.request.submit')}</button>
</form>
<p><a href="/login">${t('recovery.backToLogin')}</a></p>
</div>`,
  });
}

export function requestSentPage(validity: string): string {
  return page({
    title: t('recovery.sent.title'),
    body: html`<div class="card narrow">
<h1>${t('recovery.sent.title')}</h1>
<p role="status">${t('recovery.sent.status')}</p>
<p>${t('recovery.sent.validity', { validity })} ${t('recovery.sent.spam')} <a href="/reset-password">${t('recovery.sent.askAgain')}</a>.</p>
<p><a href="/login">${t('recovery.backToLogin')}</a></p>
</div>`,
  });
}

/** The new-password form; an invitation's link shows it as the first password of a new account. */
export function newPasswordPage(options: { csrfToken: string; name: string; rules: string[]; purpose?: LinkPurpose; action?: string; broken?: string[]; error?: string | null }): string {
  const invitation = options.purpose === 'invitation';
  const title = invitation ? t('recovery.newPassword.invitationTitle') : t('recovery.newPassword.title');
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${invitation ? t('recovery.newPassword.invitationIntro', { name: options.name }) : t('recovery.newPassword.intro', { name: options.name })}</p>
${passwordRefusal(options.broken, options.error)}
<form method="post" action="${options.action ?? '/reset-password/new'}">
  ${csrfField(options.csrfToken)}
  ${newPasswordFields(options.rules)}
  <button type="submit">${invitation ? t('recovery.newPassword.invitationSubmit') : t('recovery.newPassword.submit')}</button>
</form>
</div>`,
  });
}

/** After a reset begun from an application's sign-in: the browser goes on by itself (a Refresh header); the link is for when it does not. */
export function continueSignInPage(next: string): string {
  return page({
    title: t('recovery.continue.title'),
    body: html`<div class="card narrow">
<h1>${t('recovery.continue.title')}</h1>
<p role="status">${t('recovery.continue.status')}</p>
<p><a class="button" href="${next}">${t('recovery.continue.link')}</a></p>
</div>`,
  });
}

/** Why an invitation's link cannot be used, where it differs from a reset link's reason. */
const INVITATION_STATES: Partial<Record<UnusableState, () => string>> = {
  expired: () => t('recovery.link.invitation.expired'),
  replaced: () => t('recovery.link.invitation.replaced'),
};

/** Why a link that confirms an address (or undoes a change) cannot be used. */
const ADDRESS_STATES: Record<UnusableState, () => string> = {
  expired: () => t('recovery.link.address.expired'),
  used: () => t('recovery.link.address.used'),
  replaced: () => t('recovery.link.address.replaced'),
  invalid: () => t('recovery.link.address.invalid'),
};

/** `purpose`: what the link was for, when known; a link that sets no password explains itself differently. */
export function unusableLinkPage(state: UnusableState, purpose?: LinkPurpose): string {
  const { title, explanation: resetExplanation } = LINK_STATES[state]();
  const addressLink = purpose !== undefined && purpose !== 'reset' && purpose !== 'invitation';
  const explanation = addressLink ? ADDRESS_STATES[state]() : ((purpose === 'invitation' ? INVITATION_STATES[state]?.() : undefined) ?? resetExplanation);
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${explanation}</p>
${addressLink
  ? html`<p><a class="button" href="/account">${t('recovery.link.goToAccount')}</a></p>`
  : html`<p><a class="button" href="/reset-password">${t('recovery.link.requestNew')}</a></p>`}
</div>`,
  });
}
