// The page frame shared by every page: head, header with the signed-in user, flash message, styles.
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './components.ts';
import { t, translator, type LanguageInfo } from '../infra/i18n.ts';

export interface Viewer {
  name: string;
  role: 'user' | 'admin';
}

export interface PageOptions {
  title: string;
  viewer?: Viewer | null;
  csrfToken?: string;
  notice?: string | null;
  body: SafeHtml;
}

const STYLES = `
*{box-sizing:border-box}body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a,header button.link{color:#fff}header .brand{font-weight:700;text-decoration:none;margin-inline-end:auto}
main{max-width:60rem;margin:2rem auto;padding:0 1rem}.card{background:#fff;border-radius:8px;padding:1.5rem;box-shadow:0 1px 3px #0002;margin-bottom:1.5rem}
.narrow{max-width:26rem;margin-inline:auto}label{display:block;font-weight:600;margin-top:1rem}
input[type=email],input[type=password],input[type=text],input[type=search],select{width:100%;padding:.55rem;border:1px solid #b8bfcc;border-radius:6px;font:inherit}
button,.button{display:inline-block;margin-top:1.2rem;padding:.55rem 1.1rem;border:0;border-radius:6px;background:#2456c9;color:#fff;font:inherit;cursor:pointer;text-decoration:none}
button.secondary{background:#e4e7ee;color:#1d2330}button.link{background:none;padding:0;margin:0;text-decoration:underline;color:#2456c9}
.error{background:#fde8e8;border:1px solid #f3b4b4;color:#8a1c1c;padding:.8rem 1rem;border-radius:6px}.error ul{margin:.3rem 0 0}
.notice{background:#e7f5ea;border:1px solid #a6d8b2;color:#1b5e2b;padding:.8rem 1rem;border-radius:6px;margin-bottom:1rem}
table{width:100%;border-collapse:collapse}th,td{text-align:start;padding:.45rem .5rem;border-bottom:1px solid #e4e7ee;vertical-align:top}
.rules{font-size:.92rem;color:#4a5262}.muted{color:#6a7282;font-size:.92rem}pre{white-space:pre-wrap;background:#f5f6f8;padding:1rem;border-radius:6px}
nav.settings{display:flex;gap:1rem;flex-wrap:wrap}nav.settings a[aria-current]{font-weight:700}form.inline{display:inline}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}fieldset.filters{border:0;padding:0;margin:1rem 0 0}
label.check{display:inline-block;font-weight:400;margin:.3rem 1rem 0 0}.pager{display:flex;gap:1rem;margin-top:1rem;align-items:center}
.title-row{display:flex;justify-content:space-between;align-items:center;gap:1rem}details.menu{position:relative}
details.menu summary{list-style:none;margin:0}details.menu ul{position:absolute;inset-inline-end:0;list-style:none;margin:.3rem 0 0;padding:.4rem 0;background:#fff;border:1px solid #d4d9e2;border-radius:6px;box-shadow:0 4px 12px #0002;min-width:18rem;z-index:1}
details.menu li a{display:block;padding:.45rem 1rem;text-decoration:none;color:#1d2330}details.menu li a:hover{background:#eef2fb}
dl.details{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1.5rem}dl.details dt{font-weight:600}dl.details dd{margin:0}
.field-error{display:block;color:#8a1c1c;font-size:.92rem}.flag{color:#8a1c1c;font-weight:600}form.filters label{margin-top:.6rem}
nav.languages{max-width:60rem;margin:0 auto 2rem;padding:0 1rem}nav.languages ul{list-style:none;display:flex;gap:1rem;padding:0;margin:0;flex-wrap:wrap}
textarea{width:100%;padding:.55rem;border:1px solid #b8bfcc;border-radius:6px;font:inherit}fieldset.choices{border:0;padding:0;margin:1rem 0 0}fieldset.choices legend{font-weight:600;padding:0}
`;

export function page(options: PageOptions): string {
  const { viewer } = options;
  const { lang, dir, available } = translator();
  return '<!doctype html>' + html`<html lang="${lang}" dir="${dir}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Latchkey</title>
<link rel="stylesheet" href="/assets/latchkey.css">
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
</head>
<body>
<header>
  <a class="brand" href="/">Latchkey</a>
  ${viewer
    ? html`${viewer.role === 'admin' ? html`<a href="/admin/users">${t('layout.settings')}</a>` : ''}
  <a href="/account">${viewer.name}</a>
  <form class="inline" method="post" action="/logout">${csrfField(options.csrfToken ?? '')}<button class="link" type="submit">${t('layout.logOut')}</button></form>`
    : ''}
</header>
<main>
${options.notice ? html`<div class="notice" role="status">${options.notice}</div>` : ''}
${options.body}
</main>
${!viewer && available.length > 1 ? languageSwitcher(available, lang) : ''}
</body>
</html>`.value;
}

/** Links to the same page in each language, each named in its own language; no script needed. */
function languageSwitcher(languages: readonly LanguageInfo[], current: string): SafeHtml {
  return html`<nav class="languages" aria-label="${t('layout.language')}"><ul>${languages.map((language) =>
    language.code === current
      ? html`<li><span lang="${language.code}" aria-current="true">${language.name}</span></li>`
      : html`<li><a href="?lang=${language.code}" lang="${language.code}" hreflang="${language.code}">${language.name}</a></li>`,
  )}</ul></nav>`;
}

export const stylesheet = STYLES.trim();

/** A key on a dark square, so the tab has an icon and browsers stop asking. */
export const favicon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1d2330"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h10M23 16v4M26 16v3" stroke="#fff" stroke-width="3"/></svg>';
