// The second step of a sign-in (/login/two-step, and its recovery code page), and setting up two-step verification
// from /account (an authenticator app, recovery codes shown once); passkeys have their pages in passkeys.pages.ts.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { formLimit, requireUser } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, text } from '../../infra/page-schemas.ts';
import { continueSignInPage } from '../recovery/recovery.views.ts';
import type { User } from '../users/users.repo.ts';
import { SealedCookie } from '../../infra/sealed-cookie.ts';
import { PENDING_SECONDS, stillPending, type PendingSignIn } from './pending.ts';
import type { SignedIn } from './twostep.service.ts';
import { continueToApplicationPage, recoveryCodePage, recoveryCodesPage, setupPage, verifyPage } from './twostep.views.ts';

/** How long a set-up form (its secret sealed in a hidden field) may be confirmed. */
const SETUP_SECONDS = 900;
const INTERACTION_PREFIX = '/oidc/interaction/';

const CodeForm = formBody({ code: text(40) });
const SetupForm = formBody({ code: text(40), setup: text(1000) });

/** New recovery codes on their way to the one page that shows them, for this user only. */
interface NewCodes {
  userId: string;
  codes: string[];
  next: string | null;
}

function pendingCookie(services: Services) {
  return new SealedCookie<PendingSignIn>('second-step', services.cookies, services.twoStepCookies, services.clock, PENDING_SECONDS);
}

/** What the second step's pages share, with passkeys.pages.ts too: the pending sign-in, and how a passed second step goes on. */
export function secondStepParts(services: Services) {
  const { users, sessions, cookies, clock } = services;
  const pendingSignIns = pendingCookie(services);
  const newCodes = new SealedCookie<NewCodes>('recovery-codes', cookies, services.twoStepCookies, clock, 300);

  /** This browser's pending sign-in and its user, or a way back to the login page. */
  async function pendingOf(request: FastifyRequest, reply: FastifyReply): Promise<{ pending: PendingSignIn; user: User } | null> {
    const pending = pendingSignIns.read(request);
    const user = pending ? await users.get(pending.userId) : undefined;
    if (pending && stillPending(pending, user)) return { pending, user };
    pendingSignIns.clear(reply);
    reply.redirect('/login?notice=second-step-expired', 303);
    return null;
  }

  /** The second step is passed: the session starts in this browser, which goes where the sign-in was going. */
  function signedIn(reply: FastifyReply, pending: PendingSignIn, started: SignedIn, then?: string) {
    pendingSignIns.clear(reply);
    cookies.sessionChanged(reply);
    cookies.set(reply, 'session', started.token, sessions.cookieLifetime(started.session));
    if (then) return reply.redirect(then, 303);
    return goOn(reply, pending);
  }

  /** The second step's page: the code form and/or "Use a passkey", as the user has them. */
  async function showVerify(reply: FastifyReply, pending: PendingSignIn, user: User, error: string | null = null, status = 200) {
    const methods = await services.twoStep.methodsOf(user.id);
    const view = { csrfToken: reply.generateCsrf(), error, viaReset: pending.via === 'reset link', app: methods.authenticator !== null, passkeys: methods.passkeys.length > 0 };
    return sendHtml(reply, verifyPage(view), status);
  }

  /** The secret of an app being set up travels with its form, sealed, bound to the user and to a time limit. */
  const sealSetup = (userId: string, secret: string) => services.twoStepCookies.seal(JSON.stringify({ purpose: 'setup', userId, secret, expiresAt: clock.now() + SETUP_SECONDS * 1000 }));

  /** The second step's page; when the settings require a method the user lacks, the page to set one up (a new secret). */
  async function showSecondStep(reply: FastifyReply, pending: PendingSignIn, user: User, error: string | null = null, status = 200) {
    if (pending.step === 'setup') {
      const setup = await services.twoStep.newSetup(user);
      const view = { csrfToken: reply.generateCsrf(), action: '/login/two-step', sealedSetup: sealSetup(user.id, setup.secret), ...setup, error, required: true };
      return sendHtml(reply, setupPage(view), status);
    }
    return showVerify(reply, pending, user, error, status);
  }

  return { pendingSignIns, newCodes, pendingOf, signedIn, showVerify, showSecondStep, sealSetup };
}

/** Where a sign-in goes once its session has started: `next`, the account page, or on to an application. */
export function goOn(reply: FastifyReply, pending: Pick<PendingSignIn, 'next' | 'via'>, status?: string) {
  const next = pending.next;
  // An application's sign-in ends in a redirect to the application, which the browser would check against this
  // form's CSP form-action: it goes on from a page of its own (as after a reset).
  if (next?.startsWith(INTERACTION_PREFIX)) {
    return sendHtml(reply.header('refresh', `0; url=${next}`), pending.via === 'reset link' ? continueSignInPage(next) : continueToApplicationPage(next, status));
  }
  return reply.redirect(next ?? (pending.via === 'reset link' ? '/account?notice=password-changed' : '/account'), 303);
}

/**
 * The first step was passed (a password, or a reset link whose change already stands) by a user with two-step
 * verification, or required to set it up: this browser gets the pending sign-in and goes to the second step.
 */
export function startSecondStep(
  services: Services,
  reply: FastifyReply,
  user: User,
  pending: Pick<PendingSignIn, 'via' | 'step' | 'remembered' | 'next'>,
): FastifyReply {
  pendingCookie(services).put(reply, { ...pending, userId: user.id, passwordChangedAt: user.password_changed_at });
  // A session this browser had before (another user's) must not be mistaken for this sign-in meanwhile.
  services.cookies.clear(reply, 'session');
  return reply.redirect('/login/two-step', 303);
}

export function twoStepPages(services: Services): FastifyPluginAsync {
  const { twoStep, clock } = services;
  const { newCodes, pendingOf, signedIn, showSecondStep, sealSetup } = secondStepParts(services);

  function openSetup(sealed: string | undefined, userId: string): string | null {
    const opened = sealed ? services.twoStepCookies.open(sealed) : null;
    if (opened === null) return null;
    const setup = JSON.parse(opened) as { purpose?: string; userId?: string; secret?: string; expiresAt?: number };
    return setup.purpose === 'setup' && setup.userId === userId && (setup.expiresAt ?? 0) > clock.now() && typeof setup.secret === 'string' ? setup.secret : null;
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/login/two-step', async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      return showSecondStep(reply, found.pending, found.user);
    });

    app.post('/login/two-step', { onRequest: formLimit(services, 'second-step'), schema: { body: SetupForm } }, async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      const { pending, user } = found;
      const options = { remembered: pending.remembered, via: pending.via };
      const code = request.body.code ?? '';
      try {
        if (pending.step === 'verify') return signedIn(reply, pending, await twoStep.signInWithCode(user, code, actorOf(request), options));
        const secret = openSetup(request.body.setup, user.id);
        if (secret === null) return showSecondStep(reply, pending, user, t('twostep.errors.setupExpired'), 400);
        const { codes, ...started } = await twoStep.enableAndSignIn(user, secret, code, actorOf(request), options);
        newCodes.put(reply, { userId: user.id, codes, next: pending.next ?? (pending.via === 'reset link' ? '/account?notice=password-changed' : null) });
        return signedIn(reply, pending, started, '/account/two-step/recovery-codes');
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        if (pending.step === 'setup') {
          const secret = openSetup(request.body.setup, user.id);
          if (secret !== null) {
            const setup = await twoStep.setupOf(user, secret);
            const view = { csrfToken: reply.generateCsrf(), action: '/login/two-step', sealedSetup: request.body.setup!, ...setup, error: error.message, required: true };
            return sendHtml(reply, setupPage(view), error.status);
          }
        }
        return showSecondStep(reply, pending, user, error.message, error.status);
      }
    });

    app.get('/login/two-step/recovery', async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      if (found.pending.step !== 'verify') return reply.redirect('/login/two-step', 303);
      const app = (await twoStep.methodsOf(found.user.id)).authenticator !== null;
      return sendHtml(reply, recoveryCodePage({ csrfToken: reply.generateCsrf(), app }));
    });

    app.post('/login/two-step/recovery', { onRequest: formLimit(services, 'second-step'), schema: { body: CodeForm } }, async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      const { pending, user } = found;
      if (pending.step !== 'verify') return reply.redirect('/login/two-step', 303);
      try {
        const started = await twoStep.signInWithRecoveryCode(user, request.body.code ?? '', actorOf(request), { remembered: pending.remembered, via: pending.via });
        return signedIn(reply, pending, started);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        const app = (await twoStep.methodsOf(user.id)).authenticator !== null;
        return sendHtml(reply, recoveryCodePage({ csrfToken: reply.generateCsrf(), error: error.message, app }), error.status);
      }
    });

    // "Set Up Authenticator App" on /account: a new secret each time the page is opened, confirmed by a first code.
    app.get('/account/two-step/authenticator', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const setup = await twoStep.newSetup(auth.user);
      return sendHtml(
        reply,
        setupPage({ csrfToken: reply.generateCsrf(), viewer: auth.user, action: '/account/two-step/authenticator', sealedSetup: sealSetup(auth.user.id, setup.secret), ...setup }),
      );
    });

    app.post('/account/two-step/authenticator', { onRequest: formLimit(services, 'second-step'), schema: { body: SetupForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const secret = openSetup(request.body.setup, auth.user.id);
      if (secret === null) return reply.redirect('/account/two-step/authenticator', 303);
      try {
        const codes = await twoStep.enable(auth.user, secret, request.body.code ?? '', actorOf(request, auth.user.id));
        newCodes.put(reply, { userId: auth.user.id, codes, next: null });
        return reply.redirect('/account/two-step/recovery-codes', 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        const setup = await twoStep.setupOf(auth.user, secret);
        const view = { csrfToken: reply.generateCsrf(), viewer: auth.user, action: '/account/two-step/authenticator', sealedSetup: request.body.setup!, ...setup, error: error.message };
        return sendHtml(reply, setupPage(view), error.status);
      }
    });

    // The codes are shown by Post/Redirect/Get: once, from a sealed cookie that this page clears.
    app.get('/account/two-step/recovery-codes', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const waiting = newCodes.read(request);
      newCodes.clear(reply);
      if (!waiting || waiting.userId !== auth.user.id) return reply.redirect('/account', 303);
      return sendHtml(reply, recoveryCodesPage({ csrfToken: reply.generateCsrf(), viewer: auth.user, codes: waiting.codes, next: waiting.next ?? '/account' }));
    });

    app.post('/account/two-step/recovery-codes', { schema: { body: formBody({}) } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      try {
        const codes = await twoStep.regenerateRecoveryCodes(auth.user, actorOf(request, auth.user.id));
        newCodes.put(reply, { userId: auth.user.id, codes, next: null });
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return reply.redirect('/account', 303);
      }
      return reply.redirect('/account/two-step/recovery-codes', 303);
    });
  };
}
