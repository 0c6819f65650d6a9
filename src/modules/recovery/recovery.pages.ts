// The reset flow's routes: request a link, open it (swapped for a cookie and a clean URL), set the new password;
// an invitation link opens the same way and chooses the first password.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { formLimit } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, query, text } from '../../infra/page-schemas.ts';
import { describeDuration } from '../mail/templates.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';
import { LinkUnusable } from './recovery.service.ts';
import { PASSWORD_LINKS, type LinkPurpose } from './reset-links.repo.ts';
import { continueSignInPage, newPasswordPage, requestPage, requestSentPage, unusableLinkPage } from './recovery.views.ts';
import { safeNext } from '../sessions/auth.pages.ts';
import { startSecondStep } from '../twostep/twostep.pages.ts';

// The longest the token may sit in the browser's cookie jar, however long the link itself is valid.
const RESET_COOKIE_MAX_SECONDS = 3600;
// How long a reset begun from an application's sign-in may take and still go back to it (the sign-in's own lifetime).
const RETURN_COOKIE_SECONDS = 3600;

const NextQuery = query({ next: text(2000) });
const RequestForm = formBody({ email: text(320) });
const NewPasswordForm = formBody({ password: text(1024), confirmation: text(1024) });
/** Any text up to the router's limit: a token that is not one is an unusable link (404 page), not a bad request. */
const TokenParams = Type.Object({ token: Type.String() });

export function recoveryPages(services: Services): FastifyPluginAsync {
  const { recovery, config, policy, cookies } = services;
  const showUnusable = (reply: FastifyReply, state: LinkUnusable['state'], purpose?: LinkPurpose) =>
    sendHtml(cookies.clear(reply, 'reset'), unusableLinkPage(state, purpose), state === 'invalid' ? 404 : 410);

  const tokenFrom = (request: FastifyRequest) => cookies.read(request, 'reset') ?? '';

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    // `next`: a local path to go back to after the reset (an application's sign-in, /oidc/interaction/…).
    app.get('/reset-password', { schema: { querystring: NextQuery } }, async (request, reply) => {
      const next = safeNext(request.query.next) ?? undefined;
      return sendHtml(reply, requestPage({ csrfToken: reply.generateCsrf(), next }));
    });

    app.post('/reset-password', { onRequest: formLimit(services, 'reset-request'), schema: { querystring: NextQuery, body: RequestForm } }, async (request, reply) => {
      const email = request.body.email ?? '';
      const next = safeNext(request.query.next) ?? undefined;
      try {
        await recovery.requestReset(email, actorOf(request));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return sendHtml(reply, requestPage({ csrfToken: reply.generateCsrf(), email, error: error.message, next }), 400);
      }
      // The emailed link cannot carry the way back; this browser keeps it, for when the link is opened here.
      if (next) cookies.set(reply, 'return', next, RETURN_COOKIE_SECONDS);
      // Known and unknown addresses cost the same here (one small write), so the answer's timing tells nothing.
      return sendHtml(reply, requestSentPage(describeDuration(config.resetTtlSeconds)));
    });

    // The emailed link. Opening it never uses it up; the token moves into a cookie and the address bar
    // shows a clean URL, so the token does not linger in history or leak through the Referer header.
    // Limited too: every opening is an audit event, and nobody needs to open links by the dozen.
    // An invitation link is a reset link for the first password: it opens the same way, on its own page.
    for (const flow of [
      { path: '/reset-password', purposes: PASSWORD_LINKS },
      { path: '/invitation', purposes: ['invitation'] satisfies LinkPurpose[] },
    ]) {
      app.get(`${flow.path}/:token`, { onRequest: formLimit(services, 'reset-link'), schema: { params: TokenParams } }, async (request, reply) => {
        const { token } = request.params;
        const inspection = await recovery.inspect(token, flow.purposes);
        await recovery.recordOpened(inspection, actorOf(request));
        if (inspection.state !== 'usable') return showUnusable(reply, inspection.state, inspection.link?.purpose);
        const remaining = Math.floor((inspection.link.expires_at - services.clock.now()) / 1000);
        cookies.set(reply, 'reset', token, Math.max(1, Math.min(remaining, RESET_COOKIE_MAX_SECONDS)));
        return reply.redirect(`${flow.path}/new`, 303);
      });

      app.get(`${flow.path}/new`, async (request, reply) => {
        const inspection = await recovery.inspect(tokenFrom(request));
        if (inspection.state !== 'usable') return showUnusable(reply, inspection.state, inspection.link?.purpose);
        return sendHtml(reply, newPasswordPage({ csrfToken: reply.generateCsrf(), name: inspection.user.name, rules: policy.rules(), purpose: inspection.link.purpose, action: `${flow.path}/new` }));
      });

      app.post(`${flow.path}/new`, { schema: { body: NewPasswordForm } }, (request, reply) => choosePassword(request, request.body, reply, flow.path));
    }

    async function choosePassword(request: FastifyRequest, body: { password?: string; confirmation?: string }, reply: FastifyReply, path: string) {
      const { password = '', confirmation = '' } = body;
      const token = tokenFrom(request);
      try {
        const redeemed = await recovery.redeem(token, password, confirmation, actorOf(request));
        const back = safeNext(cookies.read(request, 'return'));
        // Two-step verification: the password is changed, but the session waits for the second step.
        if (redeemed.sessionToken === null) {
          cookies.clear(reply, 'reset', 'return');
          return await startSecondStep(services, reply, redeemed.user, { via: 'reset link', step: redeemed.secondStep, remembered: false, next: back });
        }
        const { sessionToken } = redeemed;
        // A session begins in this browser: the reset cookie and the CSRF secret go; the cookie ends with the browser.
        cookies.sessionChanged(reply);
        cookies.set(reply, 'session', sessionToken);
        // Begun from an application's sign-in: back to it, now logged in. Not by a redirect: the sign-in ends in a
        // redirect to the application, which the browser would check against this form's CSP form-action and block.
        if (back) return sendHtml(cookies.clear(reply, 'return').header('refresh', `0; url=${back}`), continueSignInPage(back));
        return reply.redirect(`/account?notice=${path === '/invitation' ? 'password-chosen' : 'password-changed'}`, 303);
      } catch (error) {
        if (error instanceof LinkUnusable) return showUnusable(reply, error.state);
        if (!(error instanceof UserError)) throw error;
        const inspection = await recovery.inspect(token);
        const name = inspection.user?.name ?? '';
        return sendHtml(
          reply,
          newPasswordPage({
            csrfToken: reply.generateCsrf(),
            name,
            rules: policy.rules(),
            purpose: inspection.link?.purpose,
            action: `${path}/new`,
            broken: error instanceof PasswordRefused ? error.broken : [],
            error: error instanceof PasswordRefused ? null : error.message,
          }),
          400,
        );
      }
    }
  };
}
