// The login page.
import { html } from '../../views/html.ts';
import { passkeySignInForm } from '../twostep/twostep.views.ts';
import { csrfField } from '../../views/components.ts';
import { page } from '../../views/layout.ts';
import { t } from '../../infra/i18n.ts';

export function loginPage(options: {
  csrfToken: string;
  email?: string;
  remembered?: boolean;
  error?: string | null;
  next?: string;
  notice?: string | null;
  /** Where the form posts, when not /login (an application's sign-in posts to its interaction). */
  action?: string;
  /** Where "Reset Password" leads (with the way back to an application's sign-in). */
  resetHref?: string;
  /** Who the person is signing in to, above the form. */
  intro?: string;
  /** Where "Log in with a passkey" goes on to, when not `next` (an application's sign-in). */
  passkeyNext?: string;
}): string {
  return page({
    title: t('auth.login.title'),
    notice: options.notice,
    body: html`<div class="card narrow">
<h1>${t('auth.login.title')}</h1>
${options.intro ? html`<p>${options.intro}</p>` : ''}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="${options.action ?? `/login${options.next ? `?next=${encodeURIComponent(options.next)}` : ''}`}">
  ${csrfField(options.csrfToken)}
  <label for="email">${t('auth.login.email')}</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${options.email ?? ''}" autofocus>
  <label for="password">${t('auth.login.password')}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
  <p><label class="check"><input name="remember" type="checkbox" value="yes"${options.remembered ? html` checked` : ''}> ${t('auth.login.remember')}</label></p>
  <button type="submit">${t('auth.login.submit')}</button>
</form>
${passkeySignInForm(options.csrfToken, options.passkeyNext ?? options.next)}
<p><a href="${options.resetHref ?? '/reset-password'}">${t('auth.login.resetPassword')}</a></p>
</div>`,
  });
}
