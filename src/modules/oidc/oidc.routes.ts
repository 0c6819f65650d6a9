// Mounts the OpenID Connect provider in the Fastify app: its endpoints are handed, raw request and response,
// to oidc-provider, which parses its own bodies (form posts, Basic authentication) and has its own protections
// (PKCE, state, its signed cookies and anti-forgery field on logout), so Fastify neither parses their bodies
// nor asks for Latchkey's CSRF token there (see app.ts). Latchkey's interaction pages are ordinary routes
// (interactions.pages.ts).
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import { SecretBox } from '../../infra/crypto.ts';
import { loadSecret } from '../../infra/secret.ts';
import { interactionPages } from './interactions.pages.ts';
import { SigningKeys } from './keys.ts';
import { cookieKeysOf, LONGEST_TOKEN_SECONDS, OidcProvider } from './provider.ts';

/** The provider's own paths, as oidc-provider routes them (see provider.ts `routes`). */
export const PROVIDER_PATHS = [
  '/.well-known/openid-configuration',
  '/oidc/auth',
  '/oidc/auth/:uid',
  '/oidc/token',
  '/oidc/jwks',
  '/oidc/me',
  '/oidc/token/revocation',
  '/oidc/token/introspection',
  '/oidc/session/end',
  '/oidc/session/end/confirm',
  '/oidc/session/end/success',
];

const PROVIDER_ROUTE = Symbol('oidc-provider route');

/** Whether the provider answers this request (the global CSRF check leaves these to the provider). */
export function handledByProvider(request: FastifyRequest): boolean {
  return (request.routeOptions.config as unknown as Record<symbol, unknown> | undefined)?.[PROVIDER_ROUTE] === true;
}

// Latchkey's headers, for the provider's answers too. Its HTML (errors, logout) is Latchkey's layout; the
// form_post response mode adds the hash of its one inline script to script-src, and posts to the application,
// so there is no form-action limit on these answers.
const PROVIDER_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), display-capture=(), clipboard-read=(), browsing-topics=(), interest-cohort=()',
};

export function oidcProviderRoutes(services: Services, oidc: OidcProvider): FastifyPluginAsync {
  const { config } = services;
  const publicHost = config.baseUrl.host;
  return async (app) => {
    // In this plugin only: bodies are left unread for the provider.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    const handler = (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      const res = reply.raw;
      for (const [name, value] of Object.entries(PROVIDER_HEADERS)) res.setHeader(name, value);
      if (config.secureCookies) res.setHeader('strict-transport-security', 'max-age=31536000');
      // The provider builds its URLs (discovery, redirects) from the request's host: it is always the public one
      // from LATCHKEY_BASE_URL, never what the client sent, so no Host header can poison the discovery document.
      request.raw.headers.host = publicHost;
      delete request.raw.headers['x-forwarded-host'];
      oidc.handler(request.raw, res);
    };
    for (const url of PROVIDER_PATHS) {
      app.route({ method: ['GET', 'POST', 'OPTIONS'], url, config: { [PROVIDER_ROUTE]: true }, handler });
    }
  };
}

/** The signing keys of this installation (sealed with a key derived from the installation secret). */
export function signingKeysOf(services: Services, secret: string): SigningKeys {
  return new SigningKeys(services.db, services.clock, new SecretBox(secret, 'oidc-signing-key'), LONGEST_TOKEN_SECONDS);
}

/**
 * Loads (or makes) the provider's signing keys and mounts the provider with Latchkey's interaction pages. The provider
 * itself is loaded by the first request to any of them (see OidcProvider), before its handler runs.
 */
export async function registerOidc(app: FastifyInstance, services: Services): Promise<void> {
  const secret = loadSecret(services.config.secret, services.config.dataDir);
  const keys = signingKeysOf(services, secret);
  const oidc = await OidcProvider.start(services, cookieKeysOf(secret), () => keys.load());
  app.addHook('onClose', async () => oidc.stop());
  await app.register(async (scope) => {
    scope.addHook('onRequest', async () => {
      await oidc.load();
    });
    await scope.register(oidcProviderRoutes(services, oidc));
    await scope.register(interactionPages(services, oidc));
  });
}
