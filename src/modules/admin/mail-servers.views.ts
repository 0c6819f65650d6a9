// The Outgoing Mail Servers pages: the servers in priority order, and one server's form with its test buttons.
import { html, type SafeHtml } from '../../views/html.ts';
import { csrfField } from '../../views/components.ts';
import type { MailServer } from '../mail/servers.ts';

export const SECURITY_LABELS = { none: 'None', starttls: 'STARTTLS', tls: 'SSL/TLS' } as const;

export function serversList(options: { servers: MailServer[]; environment: { label: string } | null; csrfToken: string }): SafeHtml {
  const hidden = csrfField(options.csrfToken);
  const empty = options.servers.length === 0 && options.environment === null;
  return html`<div class="card">
<h1>Outgoing Mail Servers</h1>
<p><a class="button" href="/admin/mail-servers/new">New Server</a></p>
${empty ? html`<p class="muted">No server is configured: mail is kept in the development mailbox (Mail Queue). Add a server to send real mail.</p>` : ''}
<p class="muted">Mail goes through the first server; when it cannot be reached, through the next one.</p>
<table>
<thead><tr><th>Priority</th><th>Name</th><th>SMTP Server</th><th>Connection Security</th><th>From Address</th><th></th></tr></thead>
<tbody>
${options.environment
  ? html`<tr><td>1</td><td>Environment (LATCHKEY_SMTP_URL)</td><td>${options.environment.label}</td><td>—</td><td>—</td><td class="muted">from the environment (read-only)</td></tr>`
  : ''}
${options.servers.map((server, index) => {
  const position = index + 1 + (options.environment ? 1 : 0);
  return html`<tr><td>${position}</td><td><a href="/admin/mail-servers/${server.id}">${server.name}</a></td><td>${server.host}:${server.port}</td><td>${SECURITY_LABELS[server.security]}</td><td>${server.from_address ?? 'default'}</td>
<td>
${index > 0 ? html`<form class="inline" method="post" action="/admin/mail-servers/${server.id}/move">${hidden}<input type="hidden" name="direction" value="up"><button type="submit" class="link" aria-label="Move ${server.name} up">Move up</button></form>` : ''}
${index < options.servers.length - 1 ? html`<form class="inline" method="post" action="/admin/mail-servers/${server.id}/move">${hidden}<input type="hidden" name="direction" value="down"><button type="submit" class="link" aria-label="Move ${server.name} down">Move down</button></form>` : ''}
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
<h1>${view.id ? values.name || 'Mail server' : 'New Server'}</h1>
${view.result ? html`<p class="${view.result.ok ? 'notice' : 'error'}" role="${view.result.ok ? 'status' : 'alert'}" data-testid="server-result">${view.result.message}</p>` : ''}
<form method="post" action="${action}">
${csrfField(view.csrfToken)}
<label for="name">Name</label><input id="name" name="name" type="text" maxlength="100" value="${values.name}" required>${fieldError('name')}
<label for="host">SMTP Server</label><input id="host" name="host" type="text" maxlength="253" value="${values.host}" required placeholder="smtp.example.com">${fieldError('host')}
<label for="port">SMTP Port</label><input id="port" name="port" type="text" inputmode="numeric" maxlength="5" value="${values.port}" required>${fieldError('port')}
<label for="security">Connection Security</label>
<select id="security" name="security">${(Object.keys(SECURITY_LABELS) as Array<keyof typeof SECURITY_LABELS>).map(
    (key) => html`<option value="${key}"${values.security === key ? html` selected` : ''}>${SECURITY_LABELS[key]}</option>`,
  )}</select>${fieldError('security')}
<label for="username">Username</label><input id="username" name="username" type="text" maxlength="200" value="${values.username}" autocomplete="off">${fieldError('username')}
<label for="password">Password</label><input id="password" name="password" type="password" maxlength="500" autocomplete="new-password" placeholder="${view.hasPassword ? 'stored: leave empty to keep it' : ''}">${fieldError('password')}
<p class="muted">The password is stored encrypted and never shown again.</p>
<label for="from">From Address</label><input id="from" name="from" type="email" maxlength="254" value="${values.from}" placeholder="${view.defaultFrom}">${fieldError('from')}
<button type="submit" name="intent" value="save">Save</button>
<button type="submit" name="intent" value="test" class="secondary">Test Connection</button>
<label for="test-recipient">Test Recipient</label><input id="test-recipient" name="testRecipient" type="email" maxlength="254" value="${values.testRecipient}">${fieldError('testRecipient')}
<button type="submit" name="intent" value="send-test" class="secondary">Send Test Email</button>
</form>
${view.id
  ? html`<form method="post" action="/admin/mail-servers/${view.id}/delete">${csrfField(view.csrfToken)}<button type="submit" class="secondary">Delete Server</button></form>`
  : ''}
<p><a href="/admin/mail-servers">Back to Outgoing Mail Servers</a></p>
</div>`;
}
