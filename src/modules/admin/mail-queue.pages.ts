// The Mail Queue pages, for administrators: the outbox with status filter and pages, one message with every attempt, Retry and Cancel.
import type { FastifyPluginAsync } from 'fastify';
import { requireAdmin } from '../../guards.ts';
import type { Services } from '../../services.ts';
import type { MailStatus } from '../../infra/db.ts';
import { actorOf } from '../../infra/web.ts';
import { MAILBOX } from '../mail/worker.ts';
import { messageSource } from '../mail/transport.ts';
import { consolePage } from './console.views.ts';
import { mailMessage, mailQueue, STATUS_LABELS } from './mail-queue.views.ts';

const PER_PAGE = 50;

export function mailQueuePages(services: Services): FastifyPluginAsync {
  const { outbox, config, mailServers } = services;
  return async (app) => {
    app.get('/admin/mail-queue', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const query = request.query as Record<string, unknown>;
      const status = typeof query.status === 'string' && Object.hasOwn(STATUS_LABELS, query.status) ? (query.status as MailStatus) : null;
      const page = Math.max(1, Math.min(1_000_000, Number.parseInt(String(query.page ?? '1'), 10) || 1));
      const { rows, total } = await outbox.list({ limit: PER_PAGE, offset: (page - 1) * PER_PAGE, status: status ?? undefined });
      const mailboxMode = mailServers.environmentUrl === null && (await mailServers.list()).length === 0;
      const params = new URLSearchParams(status ? { status } : {});
      const csrfToken = reply.generateCsrf();
      return reply.type('text/html; charset=utf-8').send(
        consolePage({
          title: 'Mail Queue',
          viewer: auth.user,
          csrfToken,
          section: '/admin/mail-queue',
          notice: query.notice === 'retry' ? 'The message will be sent again now.' : query.notice === 'cancelled' ? 'The message was cancelled.' : null,
          body: mailQueue({ messages: rows, total, page, perPage: PER_PAGE, status, mailboxMode, csrfToken, params }),
        }),
      );
    });

    app.get('/admin/mail-queue/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const { id } = request.params as { id: string };
      const { message, attempts } = await outbox.get(id);
      // Only mail kept in the development mailbox shows its working link; anything really sent stays masked.
      const revealed = message.transport === MAILBOX && message.sealed_token !== null;
      const rendered = outbox.render(message, revealed);
      const masked = revealed ? outbox.render(message, false) : rendered;
      const source = await messageSource({ from: config.mailFrom, to: message.to_address, replyTo: config.mailReplyTo ?? undefined, ...masked }, null);
      const csrfToken = reply.generateCsrf();
      return reply.type('text/html; charset=utf-8').send(
        consolePage({
          title: message.subject,
          viewer: auth.user,
          csrfToken,
          section: '/admin/mail-queue',
          body: mailMessage({ message, text: rendered.text, source, attempts, revealed, csrfToken }),
        }),
      );
    });

    app.post('/admin/mail-queue/:id/retry', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      await outbox.retry((request.params as { id: string }).id.slice(0, 64), actorOf(request, auth.user.id));
      return reply.redirect('/admin/mail-queue?notice=retry', 303);
    });

    app.post('/admin/mail-queue/:id/cancel', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      await outbox.cancel((request.params as { id: string }).id.slice(0, 64), actorOf(request, auth.user.id));
      return reply.redirect('/admin/mail-queue?notice=cancelled', 303);
    });
  };
}
