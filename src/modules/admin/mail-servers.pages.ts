// The Outgoing Mail Servers pages: list, create, edit, order, delete; "Test Connection" and "Send Test Email" on the form's values.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import { adminOf, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, NoticeQuery, text } from '../../infra/page-schemas.ts';
import { renderMail } from '../mail/templates.ts';
import { describeEndpoint, sendTestEmail, testConnection } from '../mail/transport.ts';
import type { MailServer, ServerInput } from '../mail/servers.ts';
import { normalizeEmail } from '../users/identity.ts';
import { consolePage } from './console.views.ts';
import { serverForm, serversList, type ServerFormView } from './mail-servers.views.ts';
import { t } from '../../infra/i18n.ts';

/** The server form; "intent" is the button pressed (Save, Test Connection, Send Test Email). */
const ServerForm = formBody({
  name: text(300),
  host: text(300),
  port: text(20),
  security: text(20),
  username: text(300),
  password: text(600),
  from: text(320),
  testRecipient: text(320),
  intent: text(20),
});
type ServerFields = Static<typeof ServerForm>;
const MoveForm = formBody({ direction: text(10) });
const ActionForm = formBody({});

function readForm(body: ServerFields): ServerInput & { testRecipient: string } {
  return {
    name: body.name ?? '',
    host: body.host ?? '',
    port: body.port ?? '',
    security: body.security ?? '',
    username: body.username ?? '',
    password: body.password ?? '',
    from: body.from ?? '',
    testRecipient: body.testRecipient ?? '',
  };
}

export function mailServerPages(services: Services): FastifyPluginAsync {
  const { mailServers, config } = services;

  const render = (reply: FastifyReply, auth: Auth, title: string, body: Parameters<typeof consolePage>[0]['body'], status = 200, notice: string | null = null) =>
    sendHtml(reply, consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/mail-servers', body, notice }), status);

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
  async function submit(request: FastifyRequest, reply: FastifyReply, body: ServerFields, existing: MailServer | null) {
    const auth = adminOf(request);
    const input = readForm(body);
    const { password: _password, ...shown } = input;
    const intent = body.intent || 'save';
    const actor = actorOf(request, auth.user.id);
    const title = existing?.name ?? t('mailServers.new');
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
          throw new UserError(`${t('mailServers.field.testRecipient')}: ${(error as UserError).message}`, 400, { testRecipient: (error as UserError).message });
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

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/mail-servers', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
      const servers = await mailServers.list();
      const environment = mailServers.environmentUrl ? { label: describeEndpoint({ kind: 'url', url: mailServers.environmentUrl }).label } : null;
      const notice = request.query.notice === 'deleted' ? t('mailServers.notice.deleted') : null;
      return render(reply, adminOf(request), t('mailServers.title'), serversList({ servers, environment, csrfToken: reply.generateCsrf() }), 200, notice);
    });

    app.get('/admin/mail-servers/new', async (request, reply) => render(reply, adminOf(request), t('mailServers.new'), serverForm(formView(reply, null))));

    app.post('/admin/mail-servers', { schema: { body: ServerForm } }, async (request, reply) => submit(request, reply, request.body, null));

    app.get('/admin/mail-servers/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
      const server = await mailServers.get(request.params.id);
      const notice = request.query.notice === 'saved' ? t('mailServers.notice.saved') : null;
      return render(reply, adminOf(request), server.name, serverForm(formView(reply, server)), 200, notice);
    });

    app.post('/admin/mail-servers/:id', { schema: { params: IdParams, body: ServerForm } }, async (request, reply) => {
      const server = await mailServers.get(request.params.id);
      return submit(request, reply, request.body, server);
    });

    app.post('/admin/mail-servers/:id/move', { schema: { params: IdParams, body: MoveForm } }, async (request, reply) => {
      const direction = request.body.direction === 'up' ? 'up' : 'down';
      await mailServers.move(request.params.id, direction, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/mail-servers', 303);
    });

    app.post('/admin/mail-servers/:id/delete', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      await mailServers.remove(request.params.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/mail-servers?notice=deleted', 303);
    });
  };
}
