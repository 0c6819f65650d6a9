// The JSON API under /api: keys and scopes, JSON problems, schemas that validate and document, the OpenAPI document.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Services } from '../../services.ts';
import { actorOf } from '../../infra/web.ts';
import type { Actor } from '../audit/audit.ts';
import { SCOPE_DESCRIPTIONS, type ApiKey, type ApiScope } from '../apikeys/apikeys.service.ts';
import { ApiProblem, problemHandlers } from './problems.ts';
import { ProblemSchema, UserSchema } from './schemas.ts';
import { userRoutes } from './users.api.ts';
import { resetRoutes } from './resets.api.ts';
import { recordRoutes } from './records.api.ts';
import { docsPage } from './docs.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key the request was made with (routes that need one). */
    apiKey: ApiKey | null;
  }
  interface FastifyContextConfig {
    /** The scope an API route needs; absent: the route needs no key (self-service, documentation). */
    scope?: ApiScope;
    /** Other modules mark their routes with symbols (the OpenID Connect provider's). */
    [mark: symbol]: unknown;
  }
}

export type Api = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The actor an API call is recorded as: the key (by its prefix and name) from the caller's address. */
export function apiActor(request: FastifyRequest): Actor {
  const key = request.apiKey;
  const actor = actorOf(request);
  return key ? { ...actor, userAgent: `API key ${key.prefix}… (${key.name})` } : actor;
}

/**
 * Runs a POST that sends mail or makes a link at most once per Idempotency-Key (header, optional): a retry with
 * the same key and the same body gets the first answer again, marked Idempotent-Replayed.
 */
export async function once(request: FastifyRequest, reply: FastifyReply, services: Services, work: () => Promise<{ status: number; body: unknown }>): Promise<FastifyReply> {
  const header = request.headers['idempotency-key'];
  const key = request.apiKey;
  if (header === undefined || !key) {
    const { status, body } = await work();
    return reply.code(status).send(body);
  }
  const idempotencyKey = Array.isArray(header) ? header[0]! : header;
  if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) throw new ApiProblem('bad-request', 'The Idempotency-Key header must be 1 to 255 visible ASCII characters.');
  const requestHash = createHash('sha256').update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`).digest('base64url');
  const reservation = await services.apiKeys.reserve(key.id, idempotencyKey, requestHash);
  if (reservation.kind === 'replay') return reply.code(reservation.status).header('idempotent-replayed', 'true').type('application/json; charset=utf-8').send(reservation.body);
  if (reservation.kind === 'mismatch') throw new ApiProblem('idempotency-key-reused', 'This Idempotency-Key was already used with a different request. Use a new key for a new request.');
  if (reservation.kind === 'under-way') {
    reply.header('retry-after', '1');
    throw new ApiProblem('idempotency-key-in-use', 'A request with this Idempotency-Key is still under way. Retry in a moment to get its answer.');
  }
  try {
    const { status, body } = await work();
    const text = JSON.stringify(body);
    await services.apiKeys.finish(key.id, idempotencyKey, status, text);
    return reply.code(status).type('application/json; charset=utf-8').send(text);
  } catch (error) {
    // Nothing was done (the work is one transaction): a retry may try again.
    await services.apiKeys.release(key.id, idempotencyKey);
    throw error;
  }
}

/** Strict for bodies (no coercion, unknown fields refused); query strings and paths are text, so numbers are coerced there. */
function validators() {
  const options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false } as const;
  const body = new Ajv({ ...options, coerceTypes: false });
  const text = new Ajv({ ...options, coerceTypes: 'array' });
  addFormats.default(body);
  addFormats.default(text);
  return { body, text };
}

const routesOf = new WeakMap<FastifyInstance, string[]>();

/** Every /api/v1 route registered on an app, as "METHOD /path/:param" (the document test checks each is documented). */
export function apiRoutesOf(app: FastifyInstance): string[] {
  return routesOf.get(app) ?? [];
}

export async function registerApi(app: FastifyInstance, services: Services): Promise<void> {
  const { config } = services;
  const routes: string[] = [];
  routesOf.set(app, routes);
  const documentUrl = new URL('api/', config.baseUrl);
  await app.register(async (api) => {
    await api.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Latchkey API',
          version: '1',
          description:
            'Manage users, send password reset instructions and read the audit log and mail queue with an API key; ' +
            'or build your own reset pages on the self-service endpoints, which need no key.',
        },
        servers: [{ url: documentUrl.href.replace(/\/api\/$/, '') }],
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from Settings → API Keys or `latchkey apikeys create`' } } },
        tags: [
          { name: 'Users', description: 'The user directory (users:read, users:write)' },
          { name: 'Resets', description: 'Reset instructions and links sent by the organisation (resets:send)' },
          { name: 'Self-service', description: 'For applications that build their own reset pages; no key needed, limited per address like the pages' },
          { name: 'Records', description: 'The audit log (audit:read) and the mail queue (mail:read)' },
        ],
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    });
    api.addSchema(UserSchema);
    api.addSchema(ProblemSchema);

    // The API takes JSON (the pages take forms only).
    // Bodies up to the server's limit (16 KiB), or a route's own (the import takes batches of users).
    api.addContentTypeParser('application/json', { parseAs: 'string' }, api.getDefaultJsonParser('error', 'error'));
    const { body, text } = validators();
    for (const schema of [UserSchema, ProblemSchema]) {
      body.addSchema(schema);
      text.addSchema(schema);
    }
    api.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
    problemHandlers(api, config.baseUrl);

    api.decorateRequest('apiKey', null);
    // Browsers may call the API only from the installation's own pages and the origins in LATCHKEY_API_CORS_ORIGINS.
    const allowed = new Set([new URL(config.baseUrl).origin, ...config.apiCorsOrigins]);
    api.addHook('onRequest', async (request, reply) => {
      const origin = request.headers.origin;
      if (origin === undefined) return;
      if (!allowed.has(origin)) {
        throw new ApiProblem('origin-refused', `Calls from ${origin.slice(0, 100)} are not allowed. An administrator can list the origin in LATCHKEY_API_CORS_ORIGINS.`);
      }
      reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        reply
          .code(204)
          .header('access-control-allow-methods', 'GET, POST, PATCH')
          .header('access-control-allow-headers', 'authorization, content-type, idempotency-key')
          .header('access-control-max-age', '600')
          .send();
        return reply;
      }
    });
    api.options('/*', { schema: { hide: true } }, async (_request, reply) => reply.code(204).send());

    api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());
    api.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(docsPage(api.swagger() as Parameters<typeof docsPage>[0], SCOPE_DESCRIPTIONS)),
    );

    await api.register(
      async (v1) => {
        v1.addHook('onRoute', (route) => {
          for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
        });
        // A route with a scope needs a key that has it; the key is checked before anything else is read.
        v1.addHook('onRequest', async (request, reply) => {
          const scope = request.routeOptions.config.scope;
          if (!scope) return;
          const header = request.headers.authorization ?? '';
          const match = /^Bearer ([^\s]+)$/i.exec(header);
          reply.header('www-authenticate', 'Bearer realm="latchkey"');
          if (!match) throw new ApiProblem('unauthorized', 'Send an API key: Authorization: Bearer <key>.');
          const found = await services.apiKeys.authenticate(match[1]!);
          if (!found) throw new ApiProblem('unauthorized', 'This is not an API key Latchkey knows. Check that it was copied whole.');
          if (found.state === 'revoked') throw new ApiProblem('key-revoked', 'This API key was revoked. Ask an administrator for a new one.');
          if (found.state === 'expired') throw new ApiProblem('key-expired', 'This API key has expired. Ask an administrator for a new one.');
          reply.removeHeader('www-authenticate');
          request.apiKey = found.key;
          if (!found.key.scopes.includes(scope)) {
            throw new ApiProblem('insufficient-scope', `This key does not have the ${scope} scope (${SCOPE_DESCRIPTIONS[scope]}).`);
          }
        });
        // Every use of a key is in the audit log: which key, what it called, how it was answered.
        v1.addHook('onResponse', async (request, reply) => {
          if (!request.apiKey) return;
          await services.apiKeys.recordUse(request.apiKey, apiActor(request), {
            method: request.method,
            route: request.routeOptions.url ?? request.url.split('?')[0]!,
            status: reply.statusCode,
          });
        });
        const typed = v1.withTypeProvider<TypeBoxTypeProvider>();
        userRoutes(typed, services);
        resetRoutes(typed, services);
        recordRoutes(typed, services);
      },
      { prefix: '/v1' },
    );
  }, { prefix: '/api' });
}
