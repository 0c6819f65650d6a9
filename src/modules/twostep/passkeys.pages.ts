// Passkeys in the browser: "Add a Passkey" and "Remove" on /account (and "Add a Passkey" at sign-in when the settings
// require a method), "Use a passkey" at the second step, "Log in with a passkey" on the login pages, the ceremonies'
// options (JSON, read by /assets/passkeys.js) and the two scripts.
// Each ceremony's challenge waits sealed in an HttpOnly cookie of this browser, for one answer within a few minutes.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { formLimit, requireUser } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { t } from '../../infra/i18n.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, query, text } from '../../infra/page-schemas.ts';
import { SealedCookie } from '../../infra/sealed-cookie.ts';
import { loginPage } from '../sessions/auth.views.ts';
import { safeNext } from '../sessions/auth.pages.ts';
import { goOn, secondStepParts } from './twostep.pages.ts';
import { stillPending } from './pending.ts';
import { PASSKEY_NO_ANSWER, type PasskeyChallenge } from './twostep.service.ts';
import { addPasskeyPage } from './twostep.views.ts';
import { passkeysScript, webauthnBundle } from './passkeys.script.ts';
import { CEREMONY_SECONDS, parseCeremonyResponse } from './webauthn.ts';

type Ceremony = 'register' | 'second-step' | 'sign-in';

/** A ceremony under way in this browser: for whom (none when logging in with a passkey alone), and its challenge. */
interface ChallengeCookie {
  ceremony: Ceremony;
  userId: string | null;
  challenge: string;
  passwordless: boolean;
  expiresAt: number;
}

const RegisterQuery = query({ passwordless: text(3) });
/** The browser's answer: a few kilobytes of JSON (an attestation without certificates, or an assertion). */
const AddForm = formBody({ name: text(200), passwordless: text(3), response: text(12_000) });
const AnswerForm = formBody({ response: text(12_000) });
const NextQuery = query({ next: text(2000) });

/** A function, read in the language of the request it answers. */
const NO_CEREMONY = () => t('twostep.errors.noCeremony');

export function passkeyPages(services: Services): FastifyPluginAsync {
  const { twoStep, cookies, sessions, clock } = services;
  const challenges = new SealedCookie<ChallengeCookie>('passkey-challenge', cookies, services.twoStepCookies, clock, CEREMONY_SECONDS);
  const { pendingSignIns, newCodes, pendingOf, signedIn, showVerify, showSecondStep } = secondStepParts(services);

  function begin(reply: FastifyReply, ceremony: Ceremony, userId: string | null, challenge: string, passwordless = false) {
    challenges.put(reply, { ceremony, userId, challenge, passwordless, expiresAt: clock.now() + CEREMONY_SECONDS * 1000 });
  }

  /** This browser's challenge for the ceremony (used up: the cookie goes whatever the answer), or null. */
  function take(request: FastifyRequest, reply: FastifyReply, ceremony: Ceremony, userId: string | null): (PasskeyChallenge & { passwordless: boolean }) | null {
    const waiting = challenges.read(request);
    challenges.clear(reply);
    if (!waiting || waiting.ceremony !== ceremony || waiting.userId !== userId) return null;
    return { value: waiting.challenge, expiresAt: waiting.expiresAt, passwordless: waiting.passwordless };
  }

  /** The options endpoints answer the page's script in JSON; a refusal carries a title for a person. */
  const refuse = (reply: FastifyReply, status: number, title: string) => reply.code(status).type('application/json').send({ title });

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    // Same-origin scripts only (the CSP says script-src 'self'); they change with a release, not between requests.
    app.get('/assets/webauthn.js', (_request, reply) => {
      reply.header('cache-control', 'public, max-age=86400').type('text/javascript; charset=utf-8').send(webauthnBundle());
    });
    app.get('/assets/passkeys.js', (_request, reply) => {
      reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8').send(passkeysScript);
    });

    app.get('/passkeys/options/register', { schema: { querystring: RegisterQuery } }, async (request, reply) => {
      // From /account, or at sign-in when the settings require a method the user does not have yet.
      const auth = await request.auth();
      const pending = auth ? null : pendingSignIns.read(request);
      const user = auth?.user ?? (pending?.step === 'setup' ? await services.users.get(pending.userId) : undefined);
      if (!user || (pending && !stillPending(pending, user))) return refuse(reply, 401, t('twostep.errors.logInToAdd'));
      const passwordless = auth !== null && request.query.passwordless === 'yes';
      const options = await twoStep.passkeyRegistrationOptions(user, passwordless);
      begin(reply, 'register', user.id, options.challenge, passwordless);
      return reply.send(options);
    });

    app.get('/passkeys/options/second-step', async (request, reply) => {
      const pending = pendingSignIns.read(request);
      const user = pending?.step === 'verify' ? await services.users.get(pending.userId) : undefined;
      if (!pending || !stillPending(pending, user)) return refuse(reply, 401, t('twostep.errors.secondStepExpired'));
      const options = await twoStep.passkeySecondStepOptions(user);
      begin(reply, 'second-step', user.id, options.challenge);
      return reply.send(options);
    });

    app.get('/passkeys/options/sign-in', async (_request, reply) => {
      const options = await twoStep.passkeySignInOptions();
      begin(reply, 'sign-in', null, options.challenge);
      return reply.send(options);
    });

    app.get('/account/two-step/passkey', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      return sendHtml(reply, addPasskeyPage({ csrfToken: reply.generateCsrf(), viewer: auth.user }));
    });

    app.post('/account/two-step/passkey', { onRequest: formLimit(services, 'second-step'), schema: { body: AddForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const name = request.body.name ?? '';
      const challenge = take(request, reply, 'register', auth.user.id);
      try {
        if (!challenge) throw new UserError(NO_CEREMONY(), 400);
        const response = parseCeremonyResponse<RegistrationResponseJSON>(request.body.response);
        // Whether it may log in alone is what the options asked the authenticator for, not the box as posted.
        const codes = await twoStep.addPasskey(auth.user, name, response, challenge, challenge.passwordless, actorOf(request, auth.user.id));
        if (!codes) return reply.redirect('/account?notice=passkey-added', 303);
        newCodes.put(reply, { userId: auth.user.id, codes, next: null });
        return reply.redirect('/account/two-step/recovery-codes', 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return sendHtml(reply, addPasskeyPage({ csrfToken: reply.generateCsrf(), viewer: auth.user, error: error.message, name }), error.status);
      }
    });

    app.post('/account/two-step/passkeys/:id/remove', { schema: { params: IdParams, body: formBody({}) } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      try {
        await twoStep.removePasskey(auth.user, request.params.id, actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return reply.redirect('/account', 303);
      }
      return reply.redirect('/account?notice=passkey-removed', 303);
    });

    // "Add a Passkey" at sign-in, when the settings require a method the user does not have yet: the session starts.
    app.post('/login/two-step/new-passkey', { onRequest: formLimit(services, 'second-step'), schema: { body: AddForm } }, async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      const { pending, user } = found;
      if (pending.step !== 'setup') return reply.redirect('/login/two-step', 303);
      const challenge = take(request, reply, 'register', user.id) ?? { value: '', expiresAt: 0 };
      try {
        const response = parseCeremonyResponse<RegistrationResponseJSON>(request.body.response);
        const options = { remembered: pending.remembered, via: pending.via };
        const { codes, ...started } = await twoStep.addPasskeyAndSignIn(user, request.body.name ?? '', response, challenge, actorOf(request), options);
        if (!codes) return signedIn(reply, pending, started);
        newCodes.put(reply, { userId: user.id, codes, next: pending.next ?? (pending.via === 'reset link' ? '/account?notice=password-changed' : null) });
        return signedIn(reply, pending, started, '/account/two-step/recovery-codes');
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return showSecondStep(reply, pending, user, error.message, error.status);
      }
    });

    // "Use a passkey" at /login/two-step: the same pending sign-in, throttle and audit as the app's code.
    app.post('/login/two-step/passkey', { onRequest: formLimit(services, 'second-step'), schema: { body: AnswerForm } }, async (request, reply) => {
      const found = await pendingOf(request, reply);
      if (!found) return reply;
      const { pending, user } = found;
      if (pending.step !== 'verify') return reply.redirect('/login/two-step', 303);
      const challenge = take(request, reply, 'second-step', user.id) ?? { value: '', expiresAt: 0 };
      try {
        // Nothing posted (no JavaScript) is no try at a passkey: it is not counted as a failure.
        const response = parseCeremonyResponse<AuthenticationResponseJSON>(request.body.response);
        if (!response) throw new UserError(PASSKEY_NO_ANSWER(), 400);
        const started = await twoStep.signInWithPasskey(user, response, challenge, actorOf(request), { remembered: pending.remembered, via: pending.via });
        return signedIn(reply, pending, started);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return showVerify(reply, pending, user, error.message, error.status);
      }
    });

    // "Log in with a passkey": a passkey its owner set up for logging in without a password; ?next= as for /login.
    app.post('/login/passkey', { onRequest: formLimit(services, 'login'), schema: { querystring: NextQuery, body: AnswerForm } }, async (request, reply) => {
      const next = safeNext(request.query.next);
      const challenge = take(request, reply, 'sign-in', null) ?? { value: '', expiresAt: 0 };
      try {
        const response = parseCeremonyResponse<AuthenticationResponseJSON>(request.body.response);
        if (!response) throw new UserError(PASSKEY_NO_ANSWER(), 400);
        const started = await twoStep.signInWithPasskeyAlone(response, challenge, actorOf(request), { remembered: false });
        cookies.sessionChanged(reply);
        cookies.set(reply, 'session', started.token, sessions.cookieLifetime(started.session));
        return goOn(reply, { next, via: 'password' }, t('twostep.continue.passkeyLogin'));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return sendHtml(reply, loginPage({ csrfToken: reply.generateCsrf(), error: error.message, next: next ?? undefined }), error.status);
      }
    });
  };
}
