// The "Language" choice of a user (on /account and in the console's Edit form): the installation's languages, each by
// its own name, and "the browser's language" for none.
import { t, translator } from '../infra/i18n.ts';
import { html, type SafeHtml } from './html.ts';

/** The form value that stands for no language of one's own. */
export const BROWSER_LANGUAGE = '';

/** A labelled select; `chosen` null: the browser's language. */
export function languageField(id: string, chosen: string | null): SafeHtml {
  const selected = (code: string) => (code === (chosen ?? BROWSER_LANGUAGE) ? html` selected` : '');
  return html`<label for="${id}">${t('settings.language.label')}</label>
<select id="${id}" name="language"><option value="${BROWSER_LANGUAGE}"${selected(BROWSER_LANGUAGE)}>${t('settings.language.browser')}</option>${translator().available.map(
    (language) => html`<option value="${language.code}" lang="${language.code}" dir="${language.dir}"${selected(language.code)}>${language.name}</option>`,
  )}</select>`;
}

/** A submitted choice: the empty value is no language of one's own. */
export function chosenLanguage(value: string | undefined): string | null {
  return value === undefined || value === BROWSER_LANGUAGE ? null : value;
}
