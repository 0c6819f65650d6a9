// /login and /logout.
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { formLimit } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, query, text } from '../../infra/page-schemas.ts';
import { loginPage } from './auth.views.ts';
import { noticeFor } from '../../views/components.ts';
import { startSecondStep } from '../twostep/twostep.pages.ts';

/** Only a path on this site may follow a login: never another host. */
export function safeNext(next: unknown): string | null {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  return /^[\x21-\x7e]{1,500}$/.test(next) ? next : null;
}

// Functions, so each notice is read in the language of the request that shows it.
const NOTICES: Record<string, () => string> = {
  'logged-out': () => t('auth.notices.loggedOut'),
  'password-attempts': () => t('auth.notices.passwordAttempts'),
  'second-step-expired': () => t('auth.notices.secondStepExpired'),
};

/** `next`: where to go after logging in (checked by safeNext; anything else is ignored). */
const LoginQuery = query({ next: text(2000), notice: text(64) });
export const LoginForm = formBody({ email: text(320), password: text(1024), remember: text(10) });

export function authPages(services: Services): FastifyPluginAsync {
  const { sessions, login, cookies } = services;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/login', { schema: { querystring: LoginQuery } }, async (request, reply) => {
      const next = safeNext(request.query.next);
      if (await request.auth()) return reply.redirect(next ?? '/account', 303);
      const notice = noticeFor(NOTICES, request.query.notice)?.() ?? null;
      return sendHtml(reply, loginPage({ csrfToken: reply.generateCsrf(), next: next ?? undefined, notice }));
    });

    app.post('/login', { onRequest: formLimit(services, 'login'), schema: { querystring: LoginQuery, body: LoginForm } }, async (request, reply) => {
      const next = safeNext(request.query.next);
      const email = request.body.email ?? '';
      const password = request.body.password ?? '';
      const remembered = request.body.remember === 'yes';
      try {
        const result = await login.login(email, password, actorOf(request), { remembered });
        if ('secondStep' in result) return startSecondStep(services, reply, result.user, { via: 'password', step: result.secondStep, remembered, next });
        cookies.sessionChanged(reply);
        cookies.set(reply, 'session', result.token, sessions.cookieLifetime(result.session));
        return reply.redirect(next ?? '/account', 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return sendHtml(reply, loginPage({ csrfToken: reply.generateCsrf(), email, remembered, error: error.message, next: next ?? undefined }), error.status);
      }
    });

    app.post('/logout', { schema: { body: formBody({}) } }, async (request, reply) => {
      const auth = await request.auth();
      if (auth) await sessions.logOut(auth.user, auth.session, actorOf(request, auth.user.id));
      cookies.clear(reply, 'session');
      cookies.sessionChanged(reply);
      return reply.redirect('/login?notice=logged-out', 303);
    });
  };
}
