// buildApp: the HTTP application over the services — plugins, security, then every page. Tests build it too.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import csrf from '@fastify/csrf-protection';
import { fastifyRequestContext } from '@fastify/request-context';
import type { Services } from './services.ts';
import { errorHandler, errorPage, refuseNul, securityHeaders, sendHtml, setSecurityHeaders } from './infra/web.ts';
import { unusableLinkPage } from './modules/recovery/recovery.views.ts';
import { newId } from './infra/crypto.ts';
import { languageHook } from './infra/language-choice.ts';
import { favicon, stylesheet } from './views/layout.ts';
import type { Auth } from './guards.ts';
import { authPages } from './modules/sessions/auth.pages.ts';
import { recoveryPages } from './modules/recovery/recovery.pages.ts';
import { addressPages } from './modules/recovery/addresses.pages.ts';
import { accountPages } from './modules/account/account.pages.ts';
import { adminConsole } from './modules/admin/console.plugin.ts';
import { registerOps } from './modules/ops/ops.routes.ts';
import { alertBannerHook } from './modules/security/security.pages.ts';
import { handledByProvider, registerOidc } from './modules/oidc/oidc.routes.ts';
import { registerApi } from './modules/api/api.plugin.ts';
import { twoStepPages } from './modules/twostep/twostep.pages.ts';
import { passkeyPages } from './modules/twostep/passkeys.pages.ts';

function trustHops(hops: number): false | ((address: string, hop: number) => boolean) {
  return hops === 0 ? false : (_address, hop) => hop < hops;
}

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    // A number of hops counts from Latchkey outwards: only addresses those proxies appended are believed.
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    bodyLimit: 16 * 1024,
    genReqId: () => newId(),
    routerOptions: { maxParamLength: 200 },
    // A URL the router cannot even parse (too long, broken encoding) still gets a page, with the usual headers.
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(reply as FastifyReply, config.secureCookies);
      if (/^\/(reset-password|invitation|confirm-email|undo-email-change)\//.test(request.url)) {
        return sendHtml(reply as FastifyReply, unusableLinkPage('invalid'), 404);
      }
      return errorPage(reply as FastifyReply, 400, 'Bad request', 'Latchkey could not understand this address.');
    },
  });
  // Pages take HTML form posts only: no JSON or plain-text bodies.
  app.removeContentTypeParser(['application/json', 'text/plain']);

  await app.register(cookie);
  // Each request's language, for every page, message and date it answers with (infra/language-choice.ts).
  await app.register(fastifyRequestContext);
  app.addHook('onRequest', languageHook(services));
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  await app.register(csrf, {
    cookieKey: services.cookies.name('csrf'),
    cookieOpts: services.cookies.attributes,
    getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf,
  });

  securityHeaders(app, config.secureCookies);
  errorHandler(app);
  refuseNul(app);
  // Before every page: its hooks count each answer; /healthz, /readyz and /metrics.
  registerOps(app, services);
  // Every console page shows open security alerts until an administrator acknowledges them.
  app.addHook('onSend', alertBannerHook(services));

  const cache = new WeakMap<FastifyRequest, Promise<Auth | null>>();
  app.decorateRequest('auth', function (this: FastifyRequest) {
    let loaded = cache.get(this);
    if (!loaded) {
      loaded = services.sessions.validate(services.cookies.read(this, 'session'));
      cache.set(this, loaded);
    }
    return loaded;
  });

  // Every form post carries a CSRF token; it is checked once the form body has been parsed. The OpenID Connect
  // provider's endpoints (token, revocation, logout confirmation) are posted by applications or carry the
  // provider's own anti-forgery field: they are the provider's to check (modules/oidc/oidc.routes.ts).
  app.addHook('preHandler', (request, reply, done) => {
    // The JSON API takes no cookies: a key or nothing (its self-service calls are anonymous, like the forms').
    if (request.method === 'POST' && !handledByProvider(request) && !request.url.startsWith('/api/')) return app.csrfProtection(request, reply, done);
    done();
  });

  app.get('/assets/latchkey.css', (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8').send(stylesheet);
  });
  app.get('/favicon.ico', (_request, reply) => {
    reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(favicon);
  });
  app.get('/', async (request, reply) => reply.redirect((await request.auth()) ? '/account' : '/login', 303));

  await app.register(authPages(services));
  await app.register(recoveryPages(services));
  await app.register(addressPages(services));
  await app.register(accountPages(services));
  // The second step of a sign-in, and two-step verification set up from /account.
  await app.register(twoStepPages(services));
  // Passkeys: added on /account, used at the second step or alone on the login pages.
  await app.register(passkeyPages(services));
  // Every /admin page, behind the console's guard (modules/admin/console.plugin.ts).
  await app.register(adminConsole(services));
  // "Sign in with Latchkey": the OpenID Connect provider and its login, consent and logout pages.
  await registerOidc(app, services);
  // The JSON API with its OpenAPI document and /api/docs.
  await registerApi(app, services);
  return app;
}
