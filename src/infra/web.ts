// HTTP plumbing shared by every page: security headers, HTML replies, the calm error page, who is asking.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../modules/audit/audit.ts';
import { html, type SafeHtml } from '../views/html.ts';
import { page } from '../views/layout.ts';
import { UserError } from './errors.ts';

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
      throw new UserError('The request holds a character Latchkey does not accept (U+0000).', 400);
    }
  });
}

/** Answers with a page; `status` when it is not the one the reply already has (200 unless set before). */
export function sendHtml(reply: FastifyReply, body: string | SafeHtml, status?: number): FastifyReply {
  if (status !== undefined) reply.code(status);
  return reply.type('text/html; charset=utf-8').send(String(body));
}

export function errorPage(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  return sendHtml(reply, page({ title, body: html`<div class="card narrow"><h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/">Back to Latchkey</a></p></div>` }), status);
}

const FRAMEWORK_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'Too much data', 'The form sent more data than Latchkey accepts. Shorten the fields and try again.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'Unsupported form', 'Latchkey only accepts ordinary HTML form posts here.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'Empty request', 'The request had no content.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'Bad request', 'The request was malformed.'],
  FST_CSRF_INVALID_TOKEN: [403, 'Form expired', 'This form has expired or did not come from Latchkey. Go back, reload the page and try again.'],
  FST_CSRF_MISSING_SECRET: [403, 'Form expired', 'This form has expired or did not come from Latchkey. Go back, reload the page and try again.'],
};

/** A request its route's schema refused: a field longer than the form allows is named; anything else no browser sends. */
function refusedInput(reply: FastifyReply, error: FastifyError): FastifyReply {
  const first = error.validation?.[0];
  const name = first?.instancePath.split('/')[1];
  if (error.validationContext === 'body' && first?.keyword === 'maxLength' && name) return errorPage(reply, 400, 'Something is not right', `The field "${name}" is too long.`);
  return errorPage(reply, 400, 'Bad request', 'Latchkey could not understand this request.');
}

export function errorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof UserError) return errorPage(reply, error.status, 'Something is not right', error.message);
    if (error.validation) return refusedInput(reply, error);
    const known = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
    if (known) return errorPage(reply, known[0], known[1], known[2]);
    if (error.statusCode === 429) return errorPage(reply, 429, 'Too many requests', 'Too many attempts from your address. Wait a minute and try again.');
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return errorPage(reply, error.statusCode, 'Bad request', 'Latchkey could not understand this request.');
    }
    request.log.error({ err: error }, 'unexpected error');
    return errorPage(reply, 500, 'Something went wrong', `Latchkey hit an unexpected problem. Try again; if it keeps happening, give your administrator this reference: ${request.id}.`);
  });
  app.setNotFoundHandler((_request, reply) => errorPage(reply, 404, 'Page not found', 'There is no page at this address.'));
}
