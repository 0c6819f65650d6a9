// The Mail Queue pages, for administrators: the outbox, and one message with every delivery attempt.
import type { FastifyPluginAsync } from 'fastify';
import { requireAdmin } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { NotFoundError } from '../../infra/errors.ts';
import { MAILBOX } from '../mail/worker.ts';
import { consolePage } from './console.views.ts';
import { mailMessage, mailQueue } from './mail-queue.views.ts';

export function mailQueuePages(services: Services): FastifyPluginAsync {
  const { db, outbox } = services;
  return async (app) => {
    app.get('/admin/mail-queue', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const messages = await outbox.list(db, { limit: 200 });
      return reply.type('text/html; charset=utf-8').send(
        consolePage({
          title: 'Mail Queue',
          viewer: auth.user,
          csrfToken: reply.generateCsrf(),
          section: '/admin/mail-queue',
          body: mailQueue(messages, services.config.smtpUrl === null),
        }),
      );
    });

    app.get('/admin/mail-queue/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const { id } = request.params as { id: string };
      const message = await db.selectFrom('mail_messages').selectAll().where('id', '=', id).executeTakeFirst();
      if (!message) throw new NotFoundError('There is no such message in the mail queue.');
      const attempts = await db.selectFrom('mail_attempts').selectAll().where('message_id', '=', id).orderBy('at').execute();
      // Only mail kept in the development mailbox shows its working link; anything really sent stays masked.
      const revealed = message.transport === MAILBOX && message.sealed_token !== null;
      const { text } = outbox.render(message, revealed);
      return reply.type('text/html; charset=utf-8').send(
        consolePage({ title: message.subject, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/mail-queue', body: mailMessage(message, text, attempts, revealed) }),
      );
    });
  };
}
