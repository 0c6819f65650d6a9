// Administration routes: users list and mail queue (with the development mailbox), for administrators only.
import type { FastifyPluginAsync } from 'fastify';
import { requireAdmin } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { NotFoundError } from '../../infra/errors.ts';
import { MAILBOX } from '../mail/worker.ts';
import { adminPage, mailMessage, mailQueue, usersList } from './admin.views.ts';

export function adminPages(services: Services): FastifyPluginAsync {
  const { db, users, outbox } = services;
  return async (app) => {
    app.get('/admin', async (_request, reply) => reply.redirect('/admin/users', 303));

    app.get('/admin/users', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const q = (request.query as Record<string, unknown>).q;
      const search = typeof q === 'string' ? q.slice(0, 200) : '';
      const list = await users.search(search);
      return reply
        .type('text/html; charset=utf-8')
        .send(adminPage({ title: 'Users', viewer: auth.user, csrfToken: reply.generateCsrf(), current: '/admin/users', body: usersList(list, search) }));
    });

    app.get('/admin/mail-queue', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const messages = await outbox.list(db, { limit: 200 });
      return reply.type('text/html; charset=utf-8').send(
        adminPage({
          title: 'Mail Queue',
          viewer: auth.user,
          csrfToken: reply.generateCsrf(),
          current: '/admin/mail-queue',
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
        adminPage({ title: message.subject, viewer: auth.user, csrfToken: reply.generateCsrf(), current: '/admin/mail-queue', body: mailMessage(message, text, attempts, revealed) }),
      );
    });
  };
}
