// HTTP plumbing shared by every page: security headers, HTML replies, the calm error page, who is asking.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../modules/audit/audit.ts';
import { html, type SafeHtml } from '../views/html.ts';
import { page } from '../views/layout.ts';
import { UserError } from './errors.ts';
import { t } from './i18n.ts';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Reset tokens travel in a URL: never let them leak to another site through the Referer header.
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  // Latchkey's pages need no device or browser feature; none may be used by anything framed or injected.
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), display-capture=(), clipboard-read=(), browsing-topics=(), interest-cohort=()',
};

export function setSecurityHeaders(reply: FastifyReply, https: boolean): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  if (https) reply.header('strict-transport-security', 'max-age=31536000');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}

export function securityHeaders(app: FastifyInstance, https: boolean): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    setSecurityHeaders(reply, https);
    return payload;
  });
}

export function actorOf(request: FastifyRequest, userId: string | null = null): Actor {
  const agent = request.headers['user-agent'];
  return { userId, ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}

/** Whether a parsed params, query or form value holds U+0000 anywhere, in a name or a value. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (typeof value === 'object' && value !== null) return Object.entries(value).some(([name, item]) => name.includes('\u0000') || holdsNul(item));
  return false;
}

/**
 * PostgreSQL cannot hold U+0000 in text (the query fails) and nobody types it: a path, query string or form
 * carrying one is refused before any route reads it, alike on both databases.
 */
export function refuseNul(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (holdsNul(request.params) || holdsNul(request.query) || holdsNul(request.body)) {
      throw new UserError(t('errors.nul'), 400);
    }
  });
}

/** Answers with a page; `status` when it is not the one the reply already has (200 unless set before). */
export function sendHtml(reply: FastifyReply, body: string | SafeHtml, status?: number): FastifyReply {
  if (status !== undefined) reply.code(status);
  return reply.type('text/html; charset=utf-8').send(String(body));
}

export function errorPage(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  return sendHtml(reply, page({ title, body: html`<div class="card narrow"><h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/">${t('errors.back')}</a></p></div>` }), status);
}

// Functions, so each page is read in the language of the request that failed.
const FORM_EXPIRED = (): [number, string, string] => [403, t('errors.formExpired.title'), t('errors.formExpired.message')];
const FRAMEWORK_ERRORS: Record<string, () => [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => [413, t('errors.tooLarge.title'), t('errors.tooLarge.message')],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => [415, t('errors.mediaType.title'), t('errors.mediaType.message')],
  FST_ERR_CTP_EMPTY_JSON_BODY: () => [400, t('errors.empty.title'), t('errors.empty.message')],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => [400, t('errors.badRequest.title'), t('errors.malformed')],
  FST_CSRF_INVALID_TOKEN: FORM_EXPIRED,
  FST_CSRF_MISSING_SECRET: FORM_EXPIRED,
};

/** A request its route's schema refused: a field longer than the form allows is named; anything else no browser sends. */
function refusedInput(reply: FastifyReply, error: FastifyError): FastifyReply {
  const first = error.validation?.[0];
  const name = first?.instancePath.split('/')[1];
  if (error.validationContext === 'body' && first?.keyword === 'maxLength' && name) return errorPage(reply, 400, t('errors.notRight'), t('errors.tooLong', { name }));
  return errorPage(reply, 400, t('errors.badRequest.title'), t('errors.badRequest.message'));
}

export function errorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof UserError) return errorPage(reply, error.status, t('errors.notRight'), error.message);
    if (error.validation) return refusedInput(reply, error);
    const known = error.code ? FRAMEWORK_ERRORS[error.code]?.() : undefined;
    if (known) return errorPage(reply, known[0], known[1], known[2]);
    if (error.statusCode === 429) return errorPage(reply, 429, t('errors.tooMany.title'), t('errors.tooMany.message'));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return errorPage(reply, error.statusCode, t('errors.badRequest.title'), t('errors.badRequest.message'));
    }
    request.log.error({ err: error }, 'unexpected error');
    return errorPage(reply, 500, t('errors.unexpected.title'), t('errors.unexpected.message', { reference: request.id }));
  });
  app.setNotFoundHandler((_request, reply) => errorPage(reply, 404, t('errors.notFound.title'), t('errors.notFound.message')));
}
