// /account: the signed-in user's page, password change and "Log out other sessions".
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { formLimit, requireUser, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { actorOf, field } from '../../infra/web.ts';
import { recordAudit } from '../audit/audit.ts';
import { verifyPassword } from '../passwords/hashing.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';
import { accountPage } from './account.views.ts';
import { noticeFor } from '../../views/components.ts';

const WRONG_CURRENT = 'wrong current password';
const WRONG_CURRENT_ALLOWED = 5;

const NOTICES: Record<string, string> = {
  'password-changed': 'Your password was changed. Every other session has been logged out.',
  'sessions-ended': 'Every other session has been logged out.',
};

export function accountPages(services: Services): FastifyPluginAsync {
  const { sessions, passwords, policy, db, clock, config } = services;

  async function render(reply: FastifyReply, auth: Auth, extra: { notice?: string | null; broken?: string[]; error?: string | null; status?: number }) {
    const list = await sessions.list(auth.user.id);
    return reply
      .code(extra.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(
        accountPage({
          viewer: { name: auth.user.name, email: auth.user.email, role: auth.user.role },
          csrfToken: reply.generateCsrf(),
          sessions: list,
          currentSession: auth.session.id_hash,
          rules: policy.rules(),
          ...extra,
        }),
      );
  }

  return async (app) => {
    app.get('/account', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const key = (request.query as Record<string, unknown>).notice;
      return render(reply, auth, { notice: noticeFor(NOTICES, key) });
    });

    // Limited like the login form: the current password must not be guessable through this form either.
    app.post('/account/password', { config: formLimit(services) }, async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const actor = actorOf(request, auth.user.id);
      const current = field(request.body, 'current');
      const { ok } = await verifyPassword(auth.user.password_hash, current);
      if (!ok) {
        await recordAudit(db, clock.now(), actor, { type: 'password.change_refused', userId: auth.user.id, email: auth.user.email, detail: { how: 'account', reason: WRONG_CURRENT } });
        // A stolen session must not become a way to guess the password: a few wrong guesses end it.
        const recent = await db
          .selectFrom('audit_events')
          .select('detail')
          .where('user_id', '=', auth.user.id)
          .where('type', '=', 'password.change_refused')
          .where('at', '>', clock.now() - 15 * 60_000)
          .execute();
        if (recent.filter((row) => row.detail?.includes(WRONG_CURRENT)).length >= WRONG_CURRENT_ALLOWED) {
          await db.transaction().execute(async (trx) => {
            await sessions.end(trx, auth.session.id_hash);
            await recordAudit(trx, clock.now(), actor, { type: 'sessions.ended', userId: auth.user.id, email: auth.user.email, detail: { ended: 1, reason: 'too many wrong current passwords' } });
          });
          reply.clearCookie(sessions.cookieName, { path: '/' });
          return reply.redirect('/login?notice=password-attempts', 303);
        }
        return render(reply, auth, { error: 'The current password is not correct.', status: 400 });
      }
      let hash: string;
      try {
        hash = await passwords.prepare(auth.user, field(request.body, 'password'), field(request.body, 'confirmation'));
      } catch (error) {
        if (error instanceof PasswordRefused) return render(reply, auth, { broken: error.broken, status: 400 });
        if (error instanceof UserError) return render(reply, auth, { error: error.message, status: 400 });
        throw error;
      }
      // Every session ends with the old password, this one too; the person changing it gets a fresh one.
      const token = await db.transaction().execute(async (trx) => {
        await passwords.apply(trx, auth.user, hash, 'account', actor);
        return (await sessions.start(trx, auth.user.id, actor)).token;
      });
      reply.setCookie(sessions.cookieName, token, sessions.cookieOptions(config.sessionMaxSeconds));
      return reply.redirect('/account?notice=password-changed', 303);
    });

    app.post('/account/sessions/end-others', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      await db.transaction().execute(async (trx) => {
        const ended = await sessions.endAll(trx, auth.user.id, auth.session.id_hash);
        await recordAudit(trx, clock.now(), actorOf(request, auth.user.id), { type: 'sessions.ended', userId: auth.user.id, email: auth.user.email, detail: { ended, kept: 'current' } });
      });
      return reply.redirect('/account?notice=sessions-ended', 303);
    });
  };
}
