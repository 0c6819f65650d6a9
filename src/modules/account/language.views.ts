// The "Language" card of /account: the language of the user's pages and mails.
import { t } from '../../infra/i18n.ts';
import { html } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import { languageField } from '../../views/language-select.ts';

export function languageCard(language: string | null, csrfToken: string, error?: string) {
  return html`<div class="card" id="language">
<h2>${t('settings.language.label')}</h2>
<p>${t('settings.language.explanation')}</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/account/language">
  ${csrfField(csrfToken)}
  ${languageField('language', language)}
  <button type="submit">${t('settings.language.save')}</button>
</form>
</div>`;
}
