// The frame of every administration page: the Settings menu, times, pagination.
import { html, type SafeHtml } from '../../views/html.ts';
import { page, type Viewer } from '../../views/layout.ts';
import { t, translator } from '../../infra/i18n.ts';

// Labels are functions: the reader's language is known only while a page is being rendered.
const MENU = [
  { href: '/admin/users', label: () => t('console.menu.users') },
  { href: '/admin/mail-servers', label: () => t('console.menu.mailServers') },
  { href: '/admin/mail-queue', label: () => t('console.menu.mailQueue') },
  { href: '/admin/audit', label: () => t('console.menu.audit') },
  { href: '/admin/security', label: () => t('console.menu.security') },
  { href: '/admin/applications', label: () => t('console.menu.applications') },
  { href: '/admin/api-keys', label: () => t('console.menu.apiKeys') },
  { href: '/admin/webhooks', label: () => t('console.menu.webhooks') },
] as const;

export interface ConsolePage {
  title: string;
  viewer: Viewer;
  csrfToken: string;
  section: (typeof MENU)[number]['href'];
  notice?: string | null;
  body: SafeHtml;
}

export function consolePage(options: ConsolePage): string {
  return page({
    title: options.title,
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    notice: options.notice,
    body: html`<nav class="settings card" aria-label="${t('console.settings')}"><strong>${t('console.settings')}</strong>${MENU.map(
      (item) => html`<a href="${item.href}"${item.href === options.section ? html` aria-current="page"` : ''}>${item.label()}</a>`,
    )}</nav>
${ALERTS_SLOT}${options.body}`,
  });
}

/**
 * Where the banner of open security alerts goes on every console page: the Security module fills it in as the
 * page is sent (see security.pages.ts), so no page has to load the alerts itself.
 */
export const ALERTS_SLOT = html`<!--security-alerts-->`;

/** What a pager counts: "1,973 users in all", each noun its own plural in every language. */
const IN_ALL = {
  users: (count: number) => t('console.pager.users', { count }),
  events: (count: number) => t('console.pager.events', { count }),
  messages: (count: number) => t('console.pager.messages', { count }),
};
export type PagerNoun = keyof typeof IN_ALL;

/** "Previous / Page 2 of 40 (1,973 in all) / Next", keeping the rest of the query. */
export function pager(base: string, params: URLSearchParams, page: number, perPage: number, total: number, noun: PagerNoun): SafeHtml {
  const pages = Math.max(1, Math.ceil(total / perPage));
  const link = (target: number) => {
    const next = new URLSearchParams(params);
    next.set('page', String(target));
    return `${base}?${next.toString()}`;
  };
  const number = translator().number;
  return html`<nav class="pager" aria-label="${t('console.pager.label')}">
${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">${t('console.pager.previous')}</a>` : ''}
<span>${t('console.pager.pageOf', { page: number(page), pages: number(pages) })} (${IN_ALL[noun](total)})</span>
${page < pages ? html`<a href="${link(page + 1)}" rel="next">${t('console.pager.next')}</a>` : ''}
</nav>`;
}
