// The Outgoing Mail Servers pages: the servers in priority order, and one server's form with its test buttons.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import type { MailServer } from '../mail/servers.ts';
import { t } from '../../infra/i18n.ts';

// Functions, called as a page is rendered: only then is the reader's language known.
export const SECURITY_LABELS = { none: () => t('mailServers.security.none'), starttls: () => 'STARTTLS', tls: () => 'SSL/TLS' } as const;

export function serversList(options: { servers: MailServer[]; environment: { label: string } | null; csrfToken: string }): SafeHtml {
  const hidden = csrfField(options.csrfToken);
  const empty = options.servers.length === 0 && options.environment === null;
  return html`<div class="card">
<h1>${t('mailServers.title')}</h1>
<p><a class="button" href="/admin/mail-servers/new">${t('mailServers.new')}</a></p>
${empty ? html`<p class="muted">${t('mailServers.empty')}</p>` : ''}
<p class="muted">${t('mailServers.order')}</p>
<table>
<thead><tr><th>${t('mailServers.field.priority')}</th><th>${t('mailServers.field.name')}</th><th>${t('mailServers.field.host')}</th><th>${t('mailServers.field.security')}</th><th>${t('mailServers.field.from')}</th><th></th></tr></thead>
<tbody>
${options.environment
  ? html`<tr><td>1</td><td>${t('mailServers.environment')}</td><td>${options.environment.label}</td><td>—</td><td>—</td><td class="muted">${t('mailServers.environmentNote')}</td></tr>`
  : ''}
${options.servers.map((server, index) => {
  const position = index + 1 + (options.environment ? 1 : 0);
  return html`<tr><td>${position}</td><td><a href="/admin/mail-servers/${server.id}">${server.name}</a></td><td>${server.host}:${server.port}</td><td>${SECURITY_LABELS[server.security]()}</td><td>${server.from_address ?? t('mailServers.defaultFrom')}</td>
<td>
${index > 0 ? html`<form class="inline" method="post" action="/admin/mail-servers/${server.id}/move">${hidden}<input type="hidden" name="direction" value="up"><button type="submit" class="link" aria-label="${t('mailServers.moveUpLabel', { name: server.name })}">${t('mailServers.moveUp')}</button></form>` : ''}
${index < options.servers.length - 1 ? html`<form class="inline" method="post" action="/admin/mail-servers/${server.id}/move">${hidden}<input type="hidden" name="direction" value="down"><button type="submit" class="link" aria-label="${t('mailServers.moveDownLabel', { name: server.name })}">${t('mailServers.moveDown')}</button></form>` : ''}
</td></tr>`;
})}
</tbody>
</table>
</div>`;
}

export interface ServerFormView {
  id: string | null;
  csrfToken: string;
  values: { name: string; host: string; port: string; security: string; username: string; from: string; testRecipient: string };
  hasPassword: boolean;
  errors?: Record<string, string>;
  result?: { ok: boolean; message: string } | null;
  defaultFrom: string;
}

export function serverForm(view: ServerFormView): SafeHtml {
  const { values } = view;
  const errors = view.errors ?? {};
  const fieldError = (name: string) => (errors[name] ? html`<span class="field-error">${errors[name]}</span>` : '');
  const action = view.id ? `/admin/mail-servers/${view.id}` : '/admin/mail-servers';
  return html`<div class="card narrow">
<h1>${view.id ? values.name || t('mailServers.server') : t('mailServers.new')}</h1>
${view.result ? html`<p class="${view.result.ok ? 'notice' : 'error'}" role="${view.result.ok ? 'status' : 'alert'}" data-testid="server-result">${view.result.message}</p>` : ''}
<form method="post" action="${action}">
${csrfField(view.csrfToken)}
<label for="name">${t('mailServers.field.name')}</label><input id="name" name="name" type="text" maxlength="100" value="${values.name}" required>${fieldError('name')}
<label for="host">${t('mailServers.field.host')}</label><input id="host" name="host" type="text" maxlength="253" value="${values.host}" required placeholder="smtp.example.com">${fieldError('host')}
<label for="port">${t('mailServers.field.port')}</label><input id="port" name="port" type="text" inputmode="numeric" maxlength="5" value="${values.port}" required>${fieldError('port')}
<label for="security">${t('mailServers.field.security')}</label>
<select id="security" name="security">${(Object.keys(SECURITY_LABELS) as Array<keyof typeof SECURITY_LABELS>).map(
    (key) => html`<option value="${key}"${values.security === key ? html` selected` : ''}>${SECURITY_LABELS[key]()}</option>`,
  )}</select>${fieldError('security')}
<label for="username">${t('mailServers.field.username')}</label><input id="username" name="username" type="text" maxlength="200" value="${values.username}" autocomplete="off">${fieldError('username')}
<label for="password">${t('mailServers.field.password')}</label><input id="password" name="password" type="password" maxlength="500" autocomplete="new-password" placeholder="${view.hasPassword ? t('mailServers.passwordStored') : ''}">${fieldError('password')}
<p class="muted">${t('mailServers.passwordNote')}</p>
<label for="from">${t('mailServers.field.from')}</label><input id="from" name="from" type="email" maxlength="254" value="${values.from}" placeholder="${view.defaultFrom}">${fieldError('from')}
<button type="submit" name="intent" value="save">${t('mailServers.save')}</button>
<button type="submit" name="intent" value="test" class="secondary">${t('mailServers.testConnection')}</button>
<label for="test-recipient">${t('mailServers.field.testRecipient')}</label><input id="test-recipient" name="testRecipient" type="email" maxlength="254" value="${values.testRecipient}">${fieldError('testRecipient')}
<button type="submit" name="intent" value="send-test" class="secondary">${t('mailServers.sendTest')}</button>
</form>
${view.id
  ? html`<form method="post" action="/admin/mail-servers/${view.id}/delete">${csrfField(view.csrfToken)}<button type="submit" class="secondary">${t('mailServers.delete')}</button></form>`
  : ''}
<p><a href="/admin/mail-servers">${t('mailServers.back')}</a></p>
</div>`;
}
