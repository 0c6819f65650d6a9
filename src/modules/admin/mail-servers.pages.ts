// The Outgoing Mail Servers pages: list, create, edit, order, delete; "Test Connection" and "Send Test Email" on the form's values.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { requireAdmin, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, field } from '../../infra/web.ts';
import { renderMail } from '../mail/templates.ts';
import { describeEndpoint, sendTestEmail, testConnection } from '../mail/transport.ts';
import type { MailServer, ServerInput } from '../mail/servers.ts';
import { normalizeEmail } from '../users/identity.ts';
import { consolePage } from './console.views.ts';
import { serverForm, serversList, type ServerFormView } from './mail-servers.views.ts';

function readForm(body: unknown): ServerInput & { testRecipient: string } {
  return {
    name: field(body, 'name', 300),
    host: field(body, 'host', 300),
    port: field(body, 'port', 20),
    security: field(body, 'security', 20),
    username: field(body, 'username', 300),
    password: field(body, 'password', 600),
    from: field(body, 'from', 320),
    testRecipient: field(body, 'testRecipient', 320),
  };
}

export function mailServerPages(services: Services): FastifyPluginAsync {
  const { mailServers, config } = services;

  const render = (reply: FastifyReply, auth: Auth, title: string, body: Parameters<typeof consolePage>[0]['body'], status = 200, notice: string | null = null) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/mail-servers', body, notice }));

  const formView = (reply: FastifyReply, server: MailServer | null, values: Partial<ServerFormView['values']> = {}, extra: Partial<ServerFormView> = {}): ServerFormView => ({
    id: server?.id ?? null,
    csrfToken: reply.generateCsrf(),
    values: {
      name: server?.name ?? '',
      host: server?.host ?? '',
      port: server ? String(server.port) : '587',
      security: server?.security ?? 'starttls',
      username: server?.username ?? '',
      from: server?.from_address ?? '',
      testRecipient: '',
      ...values,
    },
    hasPassword: Boolean(server?.password_sealed),
    defaultFrom: config.mailFrom,
    ...extra,
  });

  /** Save, Test Connection or Send Test Email — the last two on the values in the form, saved or not. */
  async function submit(request: FastifyRequest, reply: FastifyReply, auth: Auth, existing: MailServer | null) {
    const input = readForm(request.body);
    const { password: _password, ...shown } = input;
    const intent = field(request.body, 'intent', 20) || 'save';
    const actor = actorOf(request, auth.user.id);
    const title = existing?.name ?? 'New Server';
    try {
      if (intent === 'save') {
        const saved = await mailServers.save(existing?.id ?? null, input, actor);
        return reply.redirect(`/admin/mail-servers/${saved.id}?notice=saved`, 303);
      }
      const endpoint = mailServers.endpointFromForm(input, existing);
      let result: { ok: boolean; message: string };
      if (intent === 'test') {
        result = await testConnection(endpoint);
      } else {
        let to: string;
        try {
          to = normalizeEmail(input.testRecipient);
        } catch (error) {
          throw new UserError(`Test Recipient: ${(error as UserError).message}`, 400, { testRecipient: (error as UserError).message });
        }
        const from = input.from.trim() ? normalizeEmail(input.from) : config.mailFrom;
        const mail = renderMail({ template: 'test', params: {} }, null, { baseUrl: config.baseUrl });
        result = await sendTestEmail(endpoint, { from, to, ...mail, replyTo: config.mailReplyTo ?? undefined }, config.dkim);
      }
      await mailServers.recordTest(intent === 'test' ? null : input.testRecipient.trim().toLowerCase(), describeEndpoint(endpoint).label, result, actor);
      return render(reply, auth, title, serverForm(formView(reply, existing, shown, { result })), result.ok ? 200 : 502);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      return render(reply, auth, title, serverForm(formView(reply, existing, shown, { errors: error.fields, result: { ok: false, message: error.message } })), error.status);
    }
  }

  return async (app) => {
    app.get('/admin/mail-servers', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const servers = await mailServers.list();
      const environment = mailServers.environmentUrl ? { label: describeEndpoint({ kind: 'url', url: mailServers.environmentUrl }).label } : null;
      const notice = (request.query as Record<string, unknown>).notice === 'deleted' ? 'The server was deleted.' : null;
      return render(reply, auth, 'Outgoing Mail Servers', serversList({ servers, environment, csrfToken: reply.generateCsrf() }), 200, notice);
    });

    app.get('/admin/mail-servers/new', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return render(reply, auth, 'New Server', serverForm(formView(reply, null)));
    });

    app.post('/admin/mail-servers', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return submit(request, reply, auth, null);
    });

    app.get('/admin/mail-servers/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const server = await mailServers.get((request.params as { id: string }).id);
      const notice = (request.query as Record<string, unknown>).notice === 'saved' ? 'The server was saved.' : null;
      return render(reply, auth, server.name, serverForm(formView(reply, server)), 200, notice);
    });

    app.post('/admin/mail-servers/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const server = await mailServers.get((request.params as { id: string }).id);
      return submit(request, reply, auth, server);
    });

    app.post('/admin/mail-servers/:id/move', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const direction = field(request.body, 'direction', 10) === 'up' ? 'up' : 'down';
      await mailServers.move((request.params as { id: string }).id.slice(0, 64), direction, actorOf(request, auth.user.id));
      return reply.redirect('/admin/mail-servers', 303);
    });

    app.post('/admin/mail-servers/:id/delete', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      await mailServers.remove((request.params as { id: string }).id, actorOf(request, auth.user.id));
      return reply.redirect('/admin/mail-servers?notice=deleted', 303);
    });
  };
}
