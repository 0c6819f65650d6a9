// Which language a request is answered in: the signed-in user's own choice, else the one picked with the switcher
// (a cookie), else the browser's Accept-Language, else the installation's. `?lang=xx` on any page picks one.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestContext } from '@fastify/request-context';
import type { Services } from '../services.ts';
import { useRequestTranslator, type Translator } from './i18n.ts';

declare module '@fastify/request-context' {
  interface RequestContextData {
    translator: Translator;
  }
}

/** A year: the switcher's choice outlives the session, as a preference does. */
const PICKED_SECONDS = 365 * 86_400;

useRequestTranslator(() => requestContext.get('translator'));

export function languageHook(services: Services) {
  const { languages, cookies } = services;
  return async function chooseLanguage(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    // The API answers machines in English; files are the same in every language.
    if (request.url.startsWith('/api/') || request.url.startsWith('/assets/') || request.url === '/favicon.ico') return undefined;
    const picked = new URL(request.url, 'http://latchkey.invalid').searchParams.get('lang');
    if (picked !== null && request.method === 'GET') {
      // The switcher's link: remember the choice, and show the same page without the parameter.
      if (languages.supports(picked)) cookies.set(reply, 'lang', picked, PICKED_SECONDS);
      const url = new URL(request.url, 'http://latchkey.invalid');
      url.searchParams.delete('lang');
      return reply.redirect(url.pathname + url.search, 303);
    }
    const auth = cookies.read(request, 'session') ? await request.auth() : null;
    const own = auth?.user.language;
    const cookie = cookies.read(request, 'lang');
    const code = languages.supports(own) ? own : languages.supports(cookie) ? cookie : languages.negotiate(request.headers['accept-language']);
    request.requestContext.set('translator', languages.get(code));
    return undefined;
  };
}
