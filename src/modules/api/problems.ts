// Errors of the JSON API as RFC 9457 problem details: a stable type per kind of error and a message for a person.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UserError } from '../../infra/errors.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';

/** Every kind of problem the API answers with; each has a section in /api/docs. */
export const PROBLEMS = {
  'validation-failed': { status: 400, title: 'The request is not valid' },
  'bad-request': { status: 400, title: 'The request could not be understood' },
  'unauthorized': { status: 401, title: 'An API key is needed' },
  'key-revoked': { status: 401, title: 'This API key was revoked' },
  'key-expired': { status: 401, title: 'This API key has expired' },
  'insufficient-scope': { status: 403, title: 'This API key may not do this' },
  'origin-refused': { status: 403, title: 'Calls from this origin are not allowed' },
  'not-found': { status: 404, title: 'Not found' },
  'conflict': { status: 409, title: 'The request conflicts with the current state' },
  'idempotency-key-in-use': { status: 409, title: 'A request with this Idempotency-Key is still under way' },
  'link-unusable': { status: 410, title: 'The reset link cannot be used' },
  'payload-too-large': { status: 413, title: 'The request is too large' },
  'unsupported-media-type': { status: 415, title: 'Send JSON' },
  'password-refused': { status: 422, title: 'The password does not pass the password policy' },
  'idempotency-key-reused': { status: 422, title: 'This Idempotency-Key was used for a different request' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'internal': { status: 500, title: 'Latchkey hit an unexpected problem' },
} as const;

export type ProblemKind = keyof typeof PROBLEMS;

export interface FieldError {
  field: string;
  message: string;
}

/** A problem raised on purpose by an API route. */
export class ApiProblem extends Error {
  constructor(
    readonly kind: ProblemKind,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function problemType(baseUrl: URL, kind: ProblemKind): string {
  return new URL(`api/docs#problem-${kind}`, baseUrl).href;
}

export function sendProblem(reply: FastifyReply, baseUrl: URL, kind: ProblemKind, detail: string, extra: Record<string, unknown> = {}, status: number = PROBLEMS[kind].status): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send({ type: problemType(baseUrl, kind), title: PROBLEMS[kind].title, status, detail, ...extra });
}

/** One ajv error as a field and a sentence: "email: must be a valid email address", "color: unknown field". */
function fieldErrorOf(error: { instancePath?: string; keyword?: string; params?: Record<string, unknown>; message?: string }, part: string): FieldError {
  const path = (error.instancePath ?? '').split('/').filter(Boolean).join('.');
  const at = (name: string) => [path, name].filter(Boolean).join('.');
  if (error.keyword === 'required') return { field: at(String(error.params?.missingProperty)), message: 'is required' };
  if (error.keyword === 'additionalProperties') return { field: at(String(error.params?.additionalProperty)), message: 'is not a field Latchkey knows' };
  return { field: path || part, message: error.message ?? 'is not valid' };
}

const FRAMEWORK: Record<string, ProblemKind> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad-request',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad-request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad-request',
};

/** The API's error and not-found handlers: every answer an API client gets is JSON. */
export function problemHandlers(api: FastifyInstance, baseUrl: URL): void {
  api.setErrorHandler((error: FastifyError & { validation?: unknown[]; validationContext?: string }, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiProblem) return sendProblem(reply, baseUrl, error.kind, error.message, error.extra);
    if (error.validation) {
      const errors = (error.validation as Parameters<typeof fieldErrorOf>[0][]).map((e) => fieldErrorOf(e, error.validationContext ?? 'request'));
      return sendProblem(reply, baseUrl, 'validation-failed', `${errors.length === 1 ? 'One field is' : `${errors.length} fields are`} not valid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}.`, { errors });
    }
    if (error instanceof PasswordRefused) {
      return sendProblem(reply, baseUrl, 'password-refused', `The password is not accepted: ${error.broken.join(' ')}`, { broken: error.broken });
    }
    if (error instanceof UserError) {
      const kind: ProblemKind = error.status === 404 ? 'not-found' : error.status === 409 ? 'conflict' : error.status === 410 ? 'link-unusable' : 'bad-request';
      const errors = Object.entries(error.fields).map(([field, message]) => ({ field, message }));
      return sendProblem(reply, baseUrl, kind, error.message, errors.length > 0 ? { errors } : {}, error.status);
    }
    const known = error.code ? FRAMEWORK[error.code] : undefined;
    if (known === 'bad-request' && error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return sendProblem(reply, baseUrl, known, 'The body is not valid JSON.');
    if (known) return sendProblem(reply, baseUrl, known, PROBLEMS[known].title + '.');
    if (error.statusCode === 429) return sendProblem(reply, baseUrl, 'rate-limited', 'Too many requests from your address. Wait and try again (see Retry-After).');
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return sendProblem(reply, baseUrl, 'bad-request', 'Latchkey could not understand this request.', {}, error.statusCode);
    request.log.error({ err: error }, 'unexpected error');
    return sendProblem(reply, baseUrl, 'internal', `Try again; if it keeps happening, give your administrator this reference: ${request.id}.`, { reference: request.id });
  });
  api.setNotFoundHandler((request, reply) => sendProblem(reply, baseUrl, 'not-found', `There is no ${request.method} ${request.url.split('?')[0]} in the API.`));
}
