// What every /api/v1 route shares: the key's actor, Idempotency-Key handling, cursors, the answers a keyed route may give.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { actorOf } from '../../infra/web.ts';
import type { Actor } from '../audit/audit.ts';
import type { ApiKey, ApiScope } from '../apikeys/apikeys.service.ts';
import { ApiProblem } from './problems.ts';
import { userJson } from './schemas.ts';

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

export const UserRef = Type.Unsafe<ReturnType<typeof userJson>>(Type.Ref('User'));
export const ProblemRef = Type.Ref('Problem');
/** The answers every keyed route may give besides its own. */
export const KEYED_ERRORS = { 400: ProblemRef, 401: ProblemRef, 403: ProblemRef } as const;
export const security = [{ apiKey: [] }];

/**
 * A cursor is the position in the list, bound to the query it came from: a cursor from another search is refused
 * rather than silently showing a page of something else.
 */
export function cursorCodec(name: string) {
  const fingerprint = (query: unknown) => createHash('sha256').update(name + JSON.stringify(query)).digest('base64url').slice(0, 10);
  return {
    encode: (offset: number, query: unknown) => Buffer.from(JSON.stringify({ o: offset, q: fingerprint(query) })).toString('base64url'),
    decode(cursor: string | undefined, query: unknown): number {
      if (cursor === undefined) return 0;
      try {
        const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { o?: unknown; q?: unknown };
        if (Number.isSafeInteger(parsed.o) && (parsed.o as number) >= 0 && parsed.q === fingerprint(query)) return parsed.o as number;
      } catch {
        // Refused below.
      }
      throw new ApiProblem('validation-failed', 'cursor is not a cursor of this list with these filters: start again without it.', { errors: [{ field: 'cursor', message: 'is not a cursor of this list' }] });
    },
  };
}

