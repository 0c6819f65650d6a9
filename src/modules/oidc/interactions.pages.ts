// Signing in to an application: the provider sends the browser to /oidc/interaction/:uid, and Latchkey's own
// pages do the rest — the login form (same rules, throttle and audit as /login), or nothing when the person is
// already logged in to Latchkey, then the consent screen for third-party applications.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { formLimit, type Auth } from '../../guards.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, errorPage, sendHtml } from '../../infra/web.ts';
import { formBody } from '../../infra/page-schemas.ts';
import { recordAudit } from '../audit/audit.ts';
import { loginPage } from '../sessions/auth.views.ts';
import { LoginForm } from '../sessions/auth.pages.ts';
import { passwordNeededAfterRevoke, signedInAgainAfterRevoke } from './grants.service.ts';
import { consentView, expiredSignIn, failedSignIn, loginIntro } from './interactions.views.ts';
import { startSecondStep } from '../twostep/twostep.pages.ts';
import { amrOf } from '../sessions/sessions.ts';
import { INTERACTION_PATH, type OidcProvider, type Provider } from './provider.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The provider's interaction id; any text, since one that is not this browser's sign-in is simply "expired". */
const InteractionParams = Type.Object({ uid: Type.String() });

export function interactionPages(services: Services, oidc: OidcProvider): FastifyPluginAsync {
  const { login, sessions, cookies, clock, db } = services;

  function expired(reply: FastifyReply) {
    const { title, message } = expiredSignIn();
    return errorPage(reply, 400, title, message);
  }

  function failed(reply: FastifyReply) {
    const { title, message } = failedSignIn();
    return errorPage(reply, 400, title, message);
  }

  /** The interaction of this browser (by the provider's cookie), and only if it is the one in the address. */
  async function detailsOf(request: FastifyRequest, reply: FastifyReply, uid: string): Promise<Details | null> {
    try {
      const details = await oidc.provider.interactionDetails(request.raw, reply.raw);
      return details.uid === uid ? details : null;
    } catch {
      return null;
    }
  }

  async function applicationName(details: Details): Promise<{ name: string; firstParty: boolean; origins: string[] }> {
    const client = await oidc.provider.Client.find(String(details.params.client_id));
    const origins = [...new Set((client?.redirectUris ?? []).map((uri) => new URL(uri).origin))];
    return { name: client?.clientName ?? String(details.params.client_id), firstParty: client?.metadata().latchkey_first_party === true, origins };
  }

  // The login and consent forms post here, and the answer redirects to the application (through /oidc/auth):
  // browsers apply the page's CSP form-action to those redirects too, so these pages allow the application's origins.
  const formTargets = new WeakMap<FastifyRequest, string[]>();

  /**
   * A session begun during this sign-in (a password reset started from its form) meets every demand for a fresh login.
   * (iat is in whole seconds: a session from a later second than the sign-in's start.)
   */
  function begunDuringSignIn(details: Details, auth: Auth): boolean {
    return auth.session.created_at >= (details.iat + 1) * 1000;
  }

  /**
   * Whether an older Latchkey session may sign in without the form: not with prompt=login (which the provider
   * makes of max_age=0 too), nor past a max_age, nor to an application the person revoked on /account.
   */
  async function sessionSuffices(details: Details, auth: Auth): Promise<boolean> {
    const prompts = String(details.params.prompt ?? '').split(' ');
    if (prompts.includes('login')) return false;
    const maxAge = details.params.max_age;
    if (maxAge !== undefined && (clock.now() - auth.session.created_at) / 1000 > Number(maxAge)) return false;
    return !(await passwordNeededAfterRevoke(db, auth.user.id, String(details.params.client_id)));
  }

  /** `passwordEntered`: in this sign-in, which answers a "Revoke" of the application too. */
  async function finishLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    details: Details,
    auth: { userId: string; loginAt: number; remembered: boolean; passwordEntered: boolean; amr: string[] },
  ) {
    if (auth.passwordEntered) await signedInAgainAfterRevoke(db, auth.userId, String(details.params.client_id));
    const returnTo = await oidc.provider.interactionResult(request.raw, reply.raw, {
      login: { accountId: auth.userId, ts: Math.floor(auth.loginAt / 1000), amr: auth.amr, remember: auth.remembered },
    });
    return reply.redirect(returnTo, 303);
  }

  function loginForm(reply: FastifyReply, uid: string, application: string, extra: { email?: string; error?: string; remembered?: boolean } = {}) {
    const action = `${INTERACTION_PATH}/${uid}`;
    return sendHtml(
      reply,
      loginPage({
        csrfToken: reply.generateCsrf(),
        action: `${action}/login`,
        // After a reset by mail, the browser comes back here and the sign-in continues.
        resetHref: `/reset-password?next=${encodeURIComponent(action)}`,
        intro: loginIntro(application),
        // A passkey login comes back here too, with its session begun during this sign-in.
        passkeyNext: action,
        ...extra,
      }),
    );
  }

  /** Grants what the application asked for and goes on with the sign-in; `asked`: the person chose "Allow". */
  async function grantConsent(request: FastifyRequest, reply: FastifyReply, details: Details, auth: Auth, asked: boolean) {
    const { Grant } = oidc.provider;
    const clientId = String(details.params.client_id);
    const grant = details.grantId ? await Grant.find(details.grantId) : new Grant({ accountId: auth.user.id, clientId });
    if (!grant) return expired(reply);
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    // prompt=consent asks again for what was granted before: the grant then holds every scope requested.
    const scopes = missing.missingOIDCScope ?? String(details.params.scope ?? '').split(' ').filter(Boolean);
    if (scopes.length > 0) grant.addOIDCScope(scopes.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, resourceScopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, resourceScopes.join(' '));
    const grantId = await grant.save();
    if (asked) {
      const application = await applicationName(details);
      await recordAudit(db, clock.now(), actorOf(request, auth.user.id), {
        type: 'oidc.consent_given',
        userId: auth.user.id,
        email: auth.user.email,
        detail: { application: application.name, clientId, scopes },
      });
    }
    const returnTo = await oidc.provider.interactionResult(request.raw, reply.raw, { consent: details.grantId ? {} : { grantId } });
    return reply.redirect(returnTo, 303);
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    // Runs after the security headers hook of the whole app (hooks of a plugin run after its parent's).
    app.addHook('onSend', async (request, reply, payload) => {
      const origins = formTargets.get(request);
      const csp = reply.getHeader('content-security-policy');
      if (origins && origins.length > 0 && typeof csp === 'string') {
        reply.header('content-security-policy', csp.replace("form-action 'self'", `form-action 'self' ${origins.join(' ')}`));
      }
      return payload;
    });

    app.get(`${INTERACTION_PATH}/:uid`, { schema: { params: InteractionParams } }, async (request, reply) => {
      const details = await detailsOf(request, reply, request.params.uid);
      if (!details) return expired(reply);
      const application = await applicationName(details);
      formTargets.set(request, application.origins);
      const auth = await request.auth();
      if (details.prompt.name === 'login') {
        const passwordEntered = auth !== null && begunDuringSignIn(details, auth);
        if (auth && (passwordEntered || (await sessionSuffices(details, auth)))) {
          return finishLogin(request, reply, details, {
            userId: auth.user.id,
            loginAt: auth.session.created_at,
            remembered: auth.session.remembered === 1,
            passwordEntered,
            amr: amrOf(auth.session),
          });
        }
        return loginForm(reply, details.uid, application.name);
      }
      if (details.prompt.name === 'consent') {
        if (!auth || auth.user.id !== details.session?.accountId) return expired(reply);
        // First-party applications are part of the organisation: no consent screen (even for prompt=consent).
        if (application.firstParty) return grantConsent(request, reply, details, auth, false);
        const scopes = String(details.params.scope ?? '').split(' ');
        return sendHtml(
          reply,
          consentView({ csrfToken: reply.generateCsrf(), action: `${INTERACTION_PATH}/${details.uid}`, application: application.name, scopes, viewer: auth.user }),
        );
      }
      return failed(reply);
    });

    app.post(`${INTERACTION_PATH}/:uid/login`, { onRequest: formLimit(services, 'login'), schema: { params: InteractionParams, body: LoginForm } }, async (request, reply) => {
      const details = await detailsOf(request, reply, request.params.uid);
      if (!details || details.prompt.name !== 'login') return expired(reply);
      const email = request.body.email ?? '';
      const password = request.body.password ?? '';
      const remembered = request.body.remember === 'yes';
      try {
        const result = await login.login(email, password, actorOf(request), { remembered });
        // Two-step verification: the second step comes first, then the browser returns here (with its session,
        // begun during this sign-in) and the sign-in goes on.
        if ('secondStep' in result) {
          return startSecondStep(services, reply, result.user, { via: 'password', step: result.secondStep, remembered, next: `${INTERACTION_PATH}/${details.uid}` });
        }
        const { token, session, user } = result;
        cookies.sessionChanged(reply);
        cookies.set(reply, 'session', token, sessions.cookieLifetime(session));
        return await finishLogin(request, reply, details, { userId: user.id, loginAt: session.created_at, remembered, passwordEntered: true, amr: amrOf(session) });
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        const application = await applicationName(details);
        formTargets.set(request, application.origins);
        return loginForm(reply.code(error.status), details.uid, application.name, { email, error: error.message, remembered });
      }
    });

    app.post(`${INTERACTION_PATH}/:uid/confirm`, { schema: { params: InteractionParams, body: formBody({}) } }, async (request, reply) => {
      const details = await detailsOf(request, reply, request.params.uid);
      const auth = await request.auth();
      if (!details || details.prompt.name !== 'consent' || !auth || auth.user.id !== details.session?.accountId) {
        return expired(reply);
      }
      return grantConsent(request, reply, details, auth, true);
    });

    app.post(`${INTERACTION_PATH}/:uid/abort`, { schema: { params: InteractionParams, body: formBody({}) } }, async (request, reply) => {
      const details = await detailsOf(request, reply, request.params.uid);
      if (!details) return expired(reply);
      const returnTo = await oidc.provider.interactionResult(
        request.raw,
        reply.raw,
        { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
        { mergeWithLastSubmission: false },
      );
      return reply.redirect(returnTo, 303);
    });
  };
}
