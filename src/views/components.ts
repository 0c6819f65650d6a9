// Pieces that several pages show the same way: times, the CSRF field, the new-password fields with their rules, refusals, notices.
import { html, type SafeHtml } from './html.ts';
import { t, translator } from '../infra/i18n.ts';

/** A moment in the reader's language and the installation's time zone ("Jan 31, 2026, 14:05 UTC"), or a dash for never. */
export function when(ms: number | null): string {
  return ms === null ? '—' : translator().dateTime(ms);
}

/** The hidden field that carries the CSRF token in every form Latchkey serves (app.ts checks it on each post). */
export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** Every rule a refused password broke, and any other reason the form was refused. */
export function passwordRefusal(broken: string[] = [], error: string | null = null): SafeHtml {
  return html`${broken.length > 0
    ? html`<div class="error" role="alert">${t('components.passwordRefused')}<ul>${broken.map((message) => html`<li>${message}</li>`)}</ul></div>`
    : ''}${error ? html`<p class="error" role="alert">${error}</p>` : ''}`;
}

/** "New Password" and "Confirm New Password", with the rules in force beside them; `prefix` keeps ids unique on a page. */
export function newPasswordFields(rules: string[], prefix = ''): SafeHtml {
  return html`<label for="${prefix}password">${t('components.newPassword')}</label>
<input id="${prefix}password" name="password" type="password" autocomplete="new-password" required maxlength="1024" aria-describedby="${prefix}rules">
<label for="${prefix}confirmation">${t('components.confirmNewPassword')}</label>
<input id="${prefix}confirmation" name="confirmation" type="password" autocomplete="new-password" required maxlength="1024">
<div id="${prefix}rules" class="rules"><p>${t('components.passwordNeeds')}</p><ul>${rules.map((rule) => html`<li>${rule}</li>`)}</ul></div>`;
}

/** The text for a notice key from the query string; only the page's own keys count. */
export function noticeFor<T>(notices: Record<string, T>, key: unknown): T | null {
  return typeof key === 'string' && Object.hasOwn(notices, key) ? notices[key]! : null;
}
