// /account: the signed-in user's page, password change, "Log out other sessions", and the applications signed in
// to with "Revoke".
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { formLimit, requireUser, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, query, text } from '../../infra/page-schemas.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';
import { accountPage } from './account.views.ts';
import { noticeFor } from '../../views/components.ts';
import { t } from '../../infra/i18n.ts';
import { chosenLanguage } from '../../views/language-select.ts';

/** The notices of /account by the name in its address; texts looked up per request, in the reader's language. */
const NOTICES: Record<string, () => string> = {
  'password-changed': () => t('account.notices.passwordChanged'),
  'sessions-ended': () => t('account.notices.sessionsEnded'),
  'passkey-added': () => t('account.notices.passkeyAdded'),
  'passkey-removed': () => t('account.notices.passkeyRemoved'),
  'password-chosen': () => t('account.notices.passwordChosen'),
  'email-change-sent': () => t('account.notices.emailChangeSent'),
};

/** After "Revoke": the application is named from the registry, never from the address. */
const revokedNotice = (application: string) => t('account.applications.revoked', { application });

const AccountQuery = query({ notice: text(64), application: text(100) });
const PasswordForm = formBody({ current: text(1024), password: text(1024), confirmation: text(1024) });
const RevokeForm = formBody({ application: text(100) });
const EmailForm = formBody({ email: text(320), current: text(1024) });
const LanguageForm = formBody({ language: text(35) });

export function accountPages(services: Services): FastifyPluginAsync {
  const { sessions, passwords, policy, cookies, applications } = services;

  async function render(
    reply: FastifyReply,
    auth: Auth,
    extra: { notice?: string | null; broken?: string[]; error?: string | null; emailForm?: { email: string; error: string }; languageError?: string; status?: number },
  ) {
    const list = await sessions.list(auth.user.id);
    const signedIn = await applications.signedInFor(auth.user.id);
    const twoStep = await services.twoStep.methodsOf(auth.user.id);
    return sendHtml(
      reply,
      accountPage({
        viewer: { name: auth.user.name, email: auth.user.email, role: auth.user.role },
        emailVerifiedAt: auth.user.email_verified_at,
        language: auth.user.language,
        csrfToken: reply.generateCsrf(),
        sessions: list,
        applications: signedIn,
        twoStep,
        currentSession: auth.session.id_hash,
        rules: policy.rules(),
        ...extra,
      }),
      extra.status ?? 200,
    );
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/account', { schema: { querystring: AccountQuery } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const { query } = request;
      if (query.notice === 'application-revoked' && query.application !== undefined) {
        const application = await applications.get(query.application);
        if (application) return render(reply, auth, { notice: revokedNotice(application.name) });
      }
      return render(reply, auth, { notice: noticeFor(NOTICES, query.notice)?.() ?? null });
    });

    // Limited like the login form: the current password must not be guessable through this form either.
    app.post('/account/password', { onRequest: formLimit(services, 'current-password'), schema: { body: PasswordForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const { current = '', password = '', confirmation = '' } = request.body;
      const input = { current, password, confirmation };
      let change;
      try {
        change = await passwords.changeOwn(auth.user, auth.session, input, actorOf(request, auth.user.id));
      } catch (error) {
        if (error instanceof PasswordRefused) return render(reply, auth, { broken: error.broken, status: 400 });
        if (error instanceof UserError) return render(reply, auth, { error: error.message, status: 400 });
        throw error;
      }
      if (change.outcome === 'wrong current') return render(reply, auth, { error: t('account.changePassword.wrongCurrent'), status: 400 });
      if (change.outcome === 'session ended') {
        cookies.clear(reply, 'session');
        cookies.sessionChanged(reply);
        return reply.redirect('/login?notice=password-attempts', 303);
      }
      cookies.sessionChanged(reply);
      cookies.set(reply, 'session', change.sessionToken, sessions.cookieLifetime(change.session));
      return reply.redirect('/account?notice=password-changed', 303);
    });

    // "Change Email": nothing changes until the new address is confirmed; the current password is asked again and
    // limited like the password form's.
    app.post('/account/email', { onRequest: formLimit(services, 'current-password'), schema: { body: EmailForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const { email = '', current = '' } = request.body;
      let change;
      try {
        change = await services.addresses.requestEmailChange(auth.user, auth.session, { email, current }, actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return render(reply, auth, { emailForm: { email, error: error.message }, status: error.status });
      }
      if (change.outcome === 'wrong current') return render(reply, auth, { emailForm: { email, error: t('account.changePassword.wrongCurrent') }, status: 400 });
      if (change.outcome === 'session ended') {
        cookies.clear(reply, 'session');
        cookies.sessionChanged(reply);
        return reply.redirect('/login?notice=password-attempts', 303);
      }
      return reply.redirect('/account?notice=email-change-sent', 303);
    });

    app.post('/account/sessions/end-others', { schema: { body: formBody({}) } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      await sessions.endOthers(auth.user, auth.session, actorOf(request, auth.user.id));
      cookies.clear(reply, 'reset');
      return reply.redirect('/account?notice=sessions-ended', 303);
    });

    // "Language": from the next page on, pages and mails are in the chosen language (the browser's when none).
    app.post('/account/language', { schema: { body: LanguageForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      try {
        await services.users.setLanguage(auth.user.id, chosenLanguage(request.body.language), actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return render(reply, auth, { languageError: error.message, status: error.status });
      }
      return reply.redirect('/account#language', 303);
    });

    // "Revoke": the application loses this user's grants and tokens; the person lands back on the list.
    app.post('/account/applications/revoke', { schema: { body: RevokeForm } }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const application = await applications.revokeForUser(auth.user, request.body.application ?? '', actorOf(request, auth.user.id));
      if (!application) return reply.redirect('/account', 303);
      return reply.redirect(`/account?notice=application-revoked&application=${encodeURIComponent(application.id)}`, 303);
    });
  };
}
