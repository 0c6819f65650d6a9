// /login and /logout.
import type { FastifyPluginAsync } from 'fastify';
import { formLimit } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, field } from '../../infra/web.ts';
import { loginPage } from './auth.views.ts';
import { noticeFor } from '../../views/components.ts';

/** Only a path on this site may follow a login: never another host. */
export function safeNext(next: unknown): string | null {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  return /^[\x21-\x7e]{1,500}$/.test(next) ? next : null;
}

const NOTICES: Record<string, string> = {
  'logged-out': 'You have been logged out.',
  'password-attempts': 'You were logged out after too many wrong current passwords. Log in again, or reset your password.',
};

export function authPages(services: Services): FastifyPluginAsync {
  const { sessions, login, cookies } = services;
  return async (app) => {
    app.get('/login', async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const next = safeNext(query.next);
      if (await request.auth()) return reply.redirect(next ?? '/account', 303);
      const notice = noticeFor(NOTICES, query.notice);
      return reply.type('text/html; charset=utf-8').send(loginPage({ csrfToken: reply.generateCsrf(), next: next ?? undefined, notice }));
    });

    app.post('/login', { onRequest: formLimit(services, 'login') }, async (request, reply) => {
      const next = safeNext((request.query as Record<string, unknown>).next);
      const email = field(request.body, 'email', 320);
      const password = field(request.body, 'password');
      const remembered = field(request.body, 'remember', 10) === 'yes';
      try {
        const { token, session } = await login.login(email, password, actorOf(request), { remembered });
        cookies.sessionChanged(reply);
        cookies.set(reply, 'session', token, sessions.cookieLifetime(session));
        return reply.redirect(next ?? '/account', 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return reply
          .code(error.status)
          .type('text/html; charset=utf-8')
          .send(loginPage({ csrfToken: reply.generateCsrf(), email, remembered, error: error.message, next: next ?? undefined }));
      }
    });

    app.post('/logout', async (request, reply) => {
      const auth = await request.auth();
      if (auth) await sessions.logOut(auth.user, auth.session, actorOf(request, auth.user.id));
      cookies.clear(reply, 'session');
      cookies.sessionChanged(reply);
      return reply.redirect('/login?notice=logged-out', 303);
    });
  };
}
