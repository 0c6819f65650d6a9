// The console's users pages: list, search, filters, sort, pages; create, edit, archive; a user's page and actions.
import { chosenLanguage } from '../../views/language-select.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminOf, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, NoticeQuery, pageNumber, pageOf, query, text, texts } from '../../infra/page-schemas.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';
import { USER_FILTERS, USER_SORTS, type User, type UserFilter, type UserSort } from '../users/users.repo.ts';
import { consolePage } from './console.views.ts';
import { noticeFor } from '../../views/components.ts';
import { t } from '../../infra/i18n.ts';
import {
  actionRefused,
  BULK_ACTIONS,
  bulkConfirm,
  bulkSummary,
  MAIL_ACTIONS,
  mailActionConfirm,
  newUserForm,
  removeTwoStepConfirm,
  sendResetConfirm,
  userPage,
  usersList,
  type BulkAction,
  type MailAction,
  type UserForm,
} from './users.views.ts';

const PER_PAGE = 50;
const BULK_CAP = 5000;

const NOTICES: Record<string, (user: User) => string> = {
  'reset-sent': (user) => t('users.notice.resetSent', { email: user.email }),
  created: () => t('users.notice.created'),
  invited: (user) => t('users.notice.invited', { email: user.email }),
  'invitation-sent': (user) => t('users.notice.invitationSent', { email: user.email }),
  'confirm-email-sent': (user) => t('users.notice.confirmEmailSent', { email: user.email }),
  saved: () => t('users.notice.saved'),
  archived: () => t('users.notice.archived'),
  restored: () => t('users.notice.restored'),
  'sessions-ended': () => t('users.notice.sessionsEnded'),
  'password-set': () => t('users.notice.passwordSet'),
  'two-step-removed': (user) => t('users.notice.twoStepRemoved', { email: user.email }),
};

/** The list's search and filters, as the list's address and the bulk form carry them. */
const LIST_FIELDS = { q: text(200), filter: texts(40, 20) };
const ListQuery = query({ ...LIST_FIELDS, sort: text(40), dir: text(10), page: pageNumber });
const BulkForm = formBody({ ...LIST_FIELDS, scope: text(20), ids: texts(64, BULK_CAP), confirmed: text(10) });
/** The user form; the service says what is wrong with a value, beside its field. */
const UserFields = formBody({ email: text(320), name: text(300), role: text(20), password: text(1024), language: text(35) });
const PasswordForm = formBody({ password: text(1024), confirmation: text(1024) });
const ActionForm = formBody({});

/** The search and filters, with unknown filters dropped. */
function readSearch(source: { q?: string; filter?: string[] }) {
  const search = (source.q ?? '').trim();
  const filters = (source.filter ?? []).filter((f): f is UserFilter => (USER_FILTERS as readonly string[]).includes(f));
  return { search, filters };
}

function readForm(body: { email?: string; name?: string; role?: string }): UserForm {
  return { email: body.email ?? '', name: body.name ?? '', role: body.role === 'admin' ? 'admin' : 'user' };
}

export function adminUserPages(services: Services): FastifyPluginAsync {
  const { users, sessions, recovery, passwords, policy, audit } = services;
  const send = (reply: FastifyReply, auth: Auth, title: string, body: Parameters<typeof consolePage>[0]['body'], notice?: string | null, status?: number) =>
    sendHtml(reply, consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/users', notice, body }), status);

  async function loadUser(id: string): Promise<User> {
    const user = await users.get(id);
    if (!user) throw new NotFoundError(t('users.noSuchUser'));
    return user;
  }

  async function showUser(reply: FastifyReply, auth: Auth, user: User, extra: { notice?: string | null; form?: UserForm; passwordBroken?: string[]; passwordError?: string | null; status?: number } = {}) {
    const [userSessions, activity, resetPending, twoStep, undeliverable] = await Promise.all([
      sessions.list(user.id),
      audit.list({ userId: user.id, limit: 20 }),
      recovery.hasOpenLink(user.id),
      services.twoStep.methodsOf(user.id),
      services.bounces.markOf(user.email),
    ]);
    const body = userPage({
      user,
      csrfToken: reply.generateCsrf(),
      sessions: userSessions,
      activity: activity.rows,
      resetPending,
      twoStep,
      undeliverable,
      form: extra.form ?? { email: user.email, name: user.name, role: user.role, language: user.language },
      rules: policy.rules(),
      passwordBroken: extra.passwordBroken,
      passwordError: extra.passwordError,
    });
    return send(reply, auth, user.name, body, extra.notice, extra.status);
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/users', { schema: { querystring: ListQuery } }, async (request, reply) => {
      const auth = adminOf(request);
      const { search, filters } = readSearch(request.query);
      const sort: UserSort = (USER_SORTS as readonly string[]).includes(request.query.sort ?? '') ? (request.query.sort as UserSort) : 'name';
      const dir = request.query.dir === 'desc' ? 'desc' : 'asc';
      const { page, offset } = pageOf(request.query.page, PER_PAGE);
      const { rows, total } = await users.list({ search: search || undefined, filters, sort, dir, limit: PER_PAGE, offset });
      const params = new URLSearchParams();
      if (search) params.set('q', search);
      for (const filter of filters) params.append('filter', filter);
      params.set('sort', sort);
      params.set('dir', dir);
      return send(reply, auth, t('users.list.title'), usersList({ rows, total, search, filters, sort, dir, page, perPage: PER_PAGE, params, csrfToken: reply.generateCsrf() }));
    });

    app.get('/admin/users/new', async (request, reply) => {
      const auth = adminOf(request);
      return send(reply, auth, t('users.new.title'), newUserForm(reply.generateCsrf(), { email: '', name: '', role: 'user' }, policy.rules()));
    });

    app.post('/admin/users', { schema: { body: UserFields } }, async (request, reply) => {
      const auth = adminOf(request);
      const form = readForm(request.body);
      try {
        const { user, invited } = await services.addresses.createUser({ ...form, password: request.body.password || null }, actorOf(request, auth.user.id), 'admin');
        return reply.redirect(`/admin/users/${user.id}?notice=${invited ? 'invited' : 'created'}`, 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return send(reply, auth, t('users.new.title'), newUserForm(reply.generateCsrf(), { ...form, errors: error.fields, error: error.message }, policy.rules()), null, error.status);
      }
    });

    // Bulk actions on the selected users or on every user that matches: reset instructions, requests to confirm the address.
    const bulk = (action: BulkAction, act: (id: string, actor: ReturnType<typeof actorOf>) => Promise<User>) => async (request: FastifyRequest, body: Static<typeof BulkForm>, reply: FastifyReply) => {
      const auth = adminOf(request);
      const scope = body.scope === 'matching' ? 'matching' : 'selected';
      let ids: string[];
      let tooMany = false;
      const hidden: Array<[string, string]> = [['scope', scope]];
      if (scope === 'matching') {
        const { search, filters } = readSearch(body);
        ids = await users.matchingIds({ search: search || undefined, filters }, BULK_CAP + 1);
        tooMany = ids.length > BULK_CAP;
        hidden.push(['q', search], ...filters.map((filter): [string, string] => ['filter', filter]));
      } else {
        ids = [...new Set(body.ids ?? [])];
        hidden.push(...ids.map((id): [string, string] => ['ids', id]));
      }
      if (body.confirmed !== '1' || tooMany || ids.length === 0) {
        const status = ids.length === 0 || tooMany ? 400 : 200;
        return send(reply, auth, BULK_ACTIONS[action].title(), bulkConfirm({ action, csrfToken: reply.generateCsrf(), count: ids.length, hidden, tooMany, cap: BULK_CAP }), null, status);
      }
      const queued: User[] = [];
      const refused: Array<{ user: User; reason: string }> = [];
      const actor = actorOf(request, auth.user.id);
      for (const id of ids) {
        try {
          queued.push(await act(id, actor));
        } catch (error) {
          if (!(error instanceof UserError)) throw error;
          const user = await users.get(id);
          if (user) refused.push({ user, reason: error.message });
        }
      }
      return send(reply, auth, BULK_ACTIONS[action].summary(), bulkSummary(action, queued, refused));
    };
    const bulkReset = bulk('reset', (id, actor) => recovery.sendInstructions(id, actor, 'admin'));
    const bulkConfirmEmail = bulk('confirm-email', (id, actor) => services.addresses.askToConfirm(id, actor, 'admin'));
    app.post('/admin/users/bulk-reset', { schema: { body: BulkForm } }, (request, reply) => bulkReset(request, request.body, reply));
    app.post('/admin/users/bulk-confirm-email', { schema: { body: BulkForm } }, (request, reply) => bulkConfirmEmail(request, request.body, reply));

    app.get('/admin/users/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
      const user = await loadUser(request.params.id);
      const notice = noticeFor(NOTICES, request.query.notice)?.(user) ?? null;
      return showUser(reply, adminOf(request), user, { notice });
    });

    app.post('/admin/users/:id', { schema: { params: IdParams, body: UserFields } }, async (request, reply) => {
      const auth = adminOf(request);
      const user = await loadUser(request.params.id);
      const form = { ...readForm(request.body), language: chosenLanguage(request.body.language) };
      try {
        await users.update(user.id, form, actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return showUser(reply, auth, user, { form: { ...form, errors: error.fields, error: error.message }, status: error.status });
      }
      return reply.redirect(`/admin/users/${user.id}?notice=saved`, 303);
    });

    app.get('/admin/users/:id/send-reset', { schema: { params: IdParams } }, async (request, reply) => {
      const user = await loadUser(request.params.id);
      return send(reply, adminOf(request), t('users.action.sendReset'), sendResetConfirm(user, reply.generateCsrf()));
    });

    app.post('/admin/users/:id/send-reset', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const auth = adminOf(request);
      const user = await loadUser(request.params.id);
      try {
        await recovery.sendInstructions(user.id, actorOf(request, auth.user.id), 'admin');
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return send(reply, auth, t('users.action.sendReset'), actionRefused(user, error.message), null, error.status);
      }
      return reply.redirect(`/admin/users/${user.id}?notice=reset-sent`, 303);
    });

    // "Resend Invitation" and "Ask to Confirm Email": each asks first, then mails the user a new link.
    for (const [action, notice, act] of [
      ['resend-invitation', 'invitation-sent', (id: string, actor: ReturnType<typeof actorOf>) => services.addresses.resendInvitation(id, actor, 'admin')],
      ['confirm-email', 'confirm-email-sent', (id: string, actor: ReturnType<typeof actorOf>) => services.addresses.askToConfirm(id, actor, 'admin')],
    ] as const satisfies ReadonlyArray<readonly [MailAction, string, unknown]>) {
      app.get(`/admin/users/:id/${action}`, { schema: { params: IdParams } }, async (request, reply) => {
        const user = await loadUser(request.params.id);
        return send(reply, adminOf(request), MAIL_ACTIONS[action].title(), mailActionConfirm(action, user, reply.generateCsrf()));
      });
      app.post(`/admin/users/:id/${action}`, { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
        const auth = adminOf(request);
        const user = await loadUser(request.params.id);
        try {
          await act(user.id, actorOf(request, auth.user.id));
        } catch (error) {
          if (!(error instanceof UserError)) throw error;
          return send(reply, auth, MAIL_ACTIONS[action].title(), actionRefused(user, error.message, MAIL_ACTIONS[action].title()), null, error.status);
        }
        return reply.redirect(`/admin/users/${user.id}?notice=${notice}`, 303);
      });
    }

    // "Remove Two-Step Verification": for a person who lost the app and the recovery codes; asks first.
    app.get('/admin/users/:id/remove-two-step', { schema: { params: IdParams } }, async (request, reply) => {
      const user = await loadUser(request.params.id);
      return send(reply, adminOf(request), t('users.action.removeTwoStep'), removeTwoStepConfirm(user, reply.generateCsrf()));
    });

    app.post('/admin/users/:id/remove-two-step', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const auth = adminOf(request);
      const user = await loadUser(request.params.id);
      try {
        await services.twoStep.removeByAdministrator(user, actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return send(reply, auth, t('users.action.removeTwoStep'), actionRefused(user, error.message, t('users.action.removeTwoStep')), null, error.status);
      }
      return reply.redirect(`/admin/users/${user.id}?notice=two-step-removed`, 303);
    });

    app.post('/admin/users/:id/archive', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const user = await users.archive((await loadUser(request.params.id)).id, actorOf(request, adminOf(request).user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=archived`, 303);
    });

    app.post('/admin/users/:id/restore', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const user = await users.restore((await loadUser(request.params.id)).id, actorOf(request, adminOf(request).user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=restored`, 303);
    });

    app.post('/admin/users/:id/end-sessions', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const user = await loadUser(request.params.id);
      await sessions.endAllByAdministrator(user, actorOf(request, adminOf(request).user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=sessions-ended`, 303);
    });

    app.post('/admin/users/:id/password', { schema: { params: IdParams, body: PasswordForm } }, async (request, reply) => {
      const auth = adminOf(request);
      const user = await loadUser(request.params.id);
      try {
        await passwords.setByAdministrator(user, request.body.password ?? '', request.body.confirmation ?? '', actorOf(request, auth.user.id));
      } catch (error) {
        if (error instanceof PasswordRefused) return showUser(reply, auth, user, { passwordBroken: error.broken, status: 400 });
        if (error instanceof UserError) return showUser(reply, auth, user, { passwordError: error.message, status: error.status });
        throw error;
      }
      return reply.redirect(`/admin/users/${user.id}?notice=password-set`, 303);
    });
  };
}
