// What pages share about who is asking: the signed-in user, the login redirect, the form rate limit.
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Services } from './services.ts';
import type { User } from './modules/users/users.repo.ts';
import type { Session } from './modules/sessions/sessions.repo.ts';
import type { LimitedForm } from './modules/throttle/throttle.ts';
import { html } from './views/html.ts';
import { page } from './views/layout.ts';
import { sendHtml } from './infra/web.ts';
import { t } from './infra/i18n.ts';

export interface Auth {
  user: User;
  session: Session;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user and session, loaded once per request on first use. */
    auth(): Promise<Auth | null>;
  }
}

/** A form over its posts per minute from this address; the error handler renders its 429 page. */
class TooManyPosts extends Error {
  readonly statusCode = 429;
  constructor() {
    super('Too many requests');
  }
}

/**
 * An onRequest hook that limits a form to LATCHKEY_RATE_LIMIT posts per minute and IP address, counted
 * by the throttle in the database, so the limit holds across every instance.
 */
export function formLimit(services: Services, form: LimitedForm): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const wait = await services.throttle.formPost(form, request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new TooManyPosts();
    }
  };
}

/** Sends an anonymous visitor to the login page and back here afterwards. */
export async function requireUser(request: FastifyRequest, reply: FastifyReply): Promise<Auth | null> {
  const auth = await request.auth();
  if (auth) return auth;
  const next = request.method === 'GET' ? request.url : '/account';
  reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
  return null;
}


const admins = new WeakMap<FastifyRequest, Auth>();

/**
 * The console's preHandler hook (admin/console.plugin.ts), so no /admin handler runs without it: administrators go
 * on; anonymous visitors go to the login page, other users get a clear refusal.
 */
export async function adminGuard(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const auth = await requireUser(request, reply);
  if (!auth) return reply;
  if (auth.user.role !== 'admin') return sendHtml(reply, forbiddenPage(auth, reply.generateCsrf()), 403);
  admins.set(request, auth);
  return undefined;
}

/** The administrator the console's guard let in; only a route registered inside the console has one. */
export function adminOf(request: FastifyRequest): Auth {
  const auth = admins.get(request);
  if (!auth) throw new Error(`${request.routeOptions.url ?? request.url} is not behind the console's guard`);
  return auth;
}

function forbiddenPage(auth: Auth, csrfToken: string): string {
  return page({
    title: t('errors.forbidden.title'),
    viewer: auth.user,
    csrfToken,
    body: html`<div class="card narrow"><h1>${t('errors.forbidden.title')}</h1><p class="error" role="alert">${t('errors.forbidden.message')}</p><p><a href="/account">${t('errors.forbidden.account')}</a></p></div>`,
  });
}
