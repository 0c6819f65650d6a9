// The frame of every administration page: the Settings menu, times, pagination.
import { html, type SafeHtml } from '../../views/html.ts';
import { page, type Viewer } from '../../views/layout.ts';

const MENU = [
  { href: '/admin/users', label: 'Users' },
  { href: '/admin/mail-servers', label: 'Outgoing Mail Servers' },
  { href: '/admin/mail-queue', label: 'Mail Queue' },
  { href: '/admin/audit', label: 'Audit Log' },
  { href: '/admin/security', label: 'Security' },
  { href: '/admin/applications', label: 'Applications' },
  { href: '/admin/api-keys', label: 'API Keys' },
  { href: '/admin/webhooks', label: 'Webhooks' },
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
    body: html`<nav class="settings card" aria-label="Settings"><strong>Settings</strong>${MENU.map(
      (item) => html`<a href="${item.href}"${item.href === options.section ? html` aria-current="page"` : ''}>${item.label}</a>`,
    )}</nav>
${ALERTS_SLOT}${options.body}`,
  });
}

/**
 * Where the banner of open security alerts goes on every console page: the Security module fills it in as the
 * page is sent (see security.pages.ts), so no page has to load the alerts itself.
 */
export const ALERTS_SLOT = html`<!--security-alerts-->`;

/** "Previous / Page 2 of 40 (1,973 in all) / Next", keeping the rest of the query. */
export function pager(base: string, params: URLSearchParams, page: number, perPage: number, total: number, noun: [string, string]): SafeHtml {
  const pages = Math.max(1, Math.ceil(total / perPage));
  const link = (target: number) => {
    const next = new URLSearchParams(params);
    next.set('page', String(target));
    return `${base}?${next.toString()}`;
  };
  return html`<nav class="pager" aria-label="Pages">
${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous</a>` : ''}
<span>Page ${page} of ${pages} (${total.toLocaleString('en-US')} ${total === 1 ? noun[0] : noun[1]} in all)</span>
${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next</a>` : ''}
</nav>`;
}
