// The JSON API under /api: keys and scopes, JSON problems, schemas that validate and document, the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Services } from '../../services.ts';
import { SCOPE_DESCRIPTIONS } from '../apikeys/apikeys.service.ts';
import { ApiProblem, problemHandlers } from './problems.ts';
import { apiActor } from './route-parts.ts';
import { ProblemSchema, UserSchema } from './schemas.ts';
import { userRoutes } from './users.api.ts';
import { resetRoutes } from './resets.api.ts';
import { recordRoutes } from './records.api.ts';
import { docsPage } from './docs.ts';


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
