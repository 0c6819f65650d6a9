// The Mail Queue pages, for administrators: the outbox with status filter and pages, one message with every attempt, Retry and Cancel.
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminOf } from '../../guards.ts';
import type { Services } from '../../services.ts';
import type { MailStatus } from '../../infra/db.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, pageNumber, pageOf, query, text } from '../../infra/page-schemas.ts';
import { MAILBOX } from '../mail/worker.ts';
import { messageSource } from '../mail/transport.ts';
import { consolePage } from './console.views.ts';
import { mailMessage, mailQueue, STATUS_LABELS } from './mail-queue.views.ts';
import { t } from '../../infra/i18n.ts';

const PER_PAGE = 50;

const QueueQuery = query({ status: text(40), page: pageNumber, notice: text(64) });
const ActionForm = formBody({});

export function mailQueuePages(services: Services): FastifyPluginAsync {
  const { outbox, config, mailServers } = services;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/mail-queue', { schema: { querystring: QueueQuery } }, async (request, reply) => {
      const auth = adminOf(request);
      const { query } = request;
      const status = query.status !== undefined && Object.hasOwn(STATUS_LABELS, query.status) ? (query.status as MailStatus) : null;
      const { page, offset } = pageOf(query.page, PER_PAGE);
      const { rows, total } = await outbox.list({ limit: PER_PAGE, offset, status: status ?? undefined });
      const mailboxMode = mailServers.environmentUrl === null && (await mailServers.list()).length === 0;
      const params = new URLSearchParams(status ? { status } : {});
      const csrfToken = reply.generateCsrf();
      return sendHtml(
        reply,
        consolePage({
          title: t('mailQueue.title'),
          viewer: auth.user,
          csrfToken,
          section: '/admin/mail-queue',
          notice: query.notice === 'retry' ? t('mailQueue.notice.retry') : query.notice === 'cancelled' ? t('mailQueue.notice.cancelled') : null,
          body: mailQueue({ messages: rows, total, page, perPage: PER_PAGE, status, mailboxMode, csrfToken, params }),
        }),
      );
    });

    app.get('/admin/mail-queue/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const auth = adminOf(request);
      const { message, attempts } = await outbox.get(request.params.id);
      // Only mail kept in the development mailbox shows its working link; anything really sent stays masked.
      const revealed = message.transport === MAILBOX && message.sealed_token !== null;
      const rendered = outbox.render(message, revealed);
      const masked = revealed ? outbox.render(message, false) : rendered;
      const source = await messageSource({ from: config.mailFrom, to: message.to_address, replyTo: config.mailReplyTo ?? undefined, ...masked }, null);
      const csrfToken = reply.generateCsrf();
      return sendHtml(
        reply,
        consolePage({
          title: message.subject,
          viewer: auth.user,
          csrfToken,
          section: '/admin/mail-queue',
          body: mailMessage({ message, text: rendered.text, source, attempts, revealed, csrfToken }),
        }),
      );
    });

    app.post('/admin/mail-queue/:id/retry', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      await outbox.retry(request.params.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/mail-queue?notice=retry', 303);
    });

    app.post('/admin/mail-queue/:id/cancel', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      await outbox.cancel(request.params.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/mail-queue?notice=cancelled', 303);
    });
  };
}
