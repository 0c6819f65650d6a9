// The pages of address links: confirm an address (or a new address), undo an address change, and what came of it.
import { html } from '../../views/html.ts';
import { page } from '../../views/layout.ts';
import { csrfField } from '../../views/components.ts';
import { t } from '../../infra/i18n.ts';

/** Before the link is used: opening it (a mail scanner does too) changes nothing; the button does. */
export function confirmAddressPage(options: { csrfToken: string; name: string; email: string; change: boolean }): string {
  const title = options.change ? t('addresses.confirm.changeTitle') : t('addresses.confirm.title');
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${options.change
      ? t('addresses.confirm.changeIntro', { name: options.name, email: options.email })
      : t('addresses.confirm.intro', { name: options.name, email: options.email })}</p>
<form method="post" action="/confirm-email/confirm">
  ${csrfField(options.csrfToken)}
  <button type="submit">${t('addresses.confirm.submit')}</button>
</form>
</div>`,
  });
}

export function addressConfirmedPage(options: { email: string; change: boolean; signedIn: boolean }): string {
  const title = options.change ? t('addresses.confirmed.changeTitle') : t('addresses.confirmed.title');
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p role="status">${options.change ? t('addresses.confirmed.changeStatus', { email: options.email }) : t('addresses.confirmed.status', { email: options.email })}</p>
<p><a class="button" href="${options.signedIn ? '/account' : '/login'}">${options.signedIn ? t('addresses.goToAccount') : t('addresses.logIn')}</a></p>
</div>`,
  });
}

export function undoChangePage(options: { csrfToken: string; name: string; email: string }): string {
  return page({
    title: t('addresses.undo.title'),
    body: html`<div class="card narrow">
<h1>${t('addresses.undo.title')}</h1>
<p>${t('addresses.undo.intro', { name: options.name, email: options.email })}</p>
<form method="post" action="/undo-email-change/confirm">
  ${csrfField(options.csrfToken)}
  <button type="submit">${t('addresses.undo.title')}</button>
</form>
</div>`,
  });
}

export function changeUndonePage(email: string): string {
  return page({
    title: t('addresses.undone.title'),
    body: html`<div class="card narrow">
<h1>${t('addresses.undone.title')}</h1>
<p role="status">${t('addresses.undone.status', { email })}</p>
<p>${t('addresses.undone.warning')}</p>
<p><a class="button" href="/reset-password">${t('addresses.undone.resetPassword')}</a></p>
</div>`,
  });
}

/** The address could not be put on the account (someone else has it now); the link still works later. */
export function addressRefusedPage(message: string): string {
  return page({
    title: t('addresses.refused.title'),
    body: html`<div class="card narrow">
<h1>${t('addresses.refused.title')}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/login">${t('addresses.backToLogin')}</a></p>
</div>`,
  });
}
