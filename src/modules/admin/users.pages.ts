// The console's users pages: list, search, filters, sort, pages; create, edit, archive; a user's page and actions.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { requireAdmin, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { actorOf, field } from '../../infra/web.ts';
import { PasswordRefused } from '../passwords/passwords.service.ts';
import { USER_FILTERS, USER_SORTS, type User, type UserFilter, type UserSort } from '../users/users.repo.ts';
import { consolePage } from './console.views.ts';
import { noticeFor } from '../../views/components.ts';
import { actionRefused, bulkConfirm, bulkSummary, newUserForm, sendResetConfirm, userPage, usersList, type UserForm } from './users.views.ts';

const PER_PAGE = 50;
const BULK_CAP = 5000;

const NOTICES: Record<string, (user: User) => string> = {
  'reset-sent': (user) => `Password reset instructions sent to ${user.email}`,
  created: () => 'The user was created.',
  saved: () => 'The changes were saved.',
  archived: () => 'The user was archived: sessions ended and reset links voided.',
  restored: () => 'The user was restored.',
  'sessions-ended': () => 'Every session of the user has ended.',
  'password-set': () => 'The password was set. Every session of the user has ended and the user was told by email.',
};

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return typeof value === 'string' ? [value] : [];
}

/** The list's query from the URL (or a bulk form), with anything unknown dropped. */
function readQuery(source: Record<string, unknown>) {
  const search = (typeof source.q === 'string' ? source.q : '').trim().slice(0, 200);
  const filters = list(source.filter).filter((f): f is UserFilter => (USER_FILTERS as readonly string[]).includes(f));
  const sort = (USER_SORTS as readonly string[]).includes(source.sort as string) ? (source.sort as UserSort) : 'name';
  const dir: 'asc' | 'desc' = source.dir === 'desc' ? 'desc' : 'asc';
  const page = Math.max(1, Math.min(1_000_000, Number.parseInt(String(source.page ?? '1'), 10) || 1));
  return { search, filters, sort, dir, page };
}

export function adminUserPages(services: Services): FastifyPluginAsync {
  const { users, sessions, recovery, passwords, policy, audit } = services;
  const send = (reply: FastifyReply, auth: Auth, title: string, body: Parameters<typeof consolePage>[0]['body'], notice?: string | null, status = 200) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/users', notice, body }));

  async function loadUser(request: FastifyRequest): Promise<User> {
    const { id } = request.params as { id: string };
    const user = await users.get(id.slice(0, 64));
    if (!user) throw new NotFoundError('There is no such user.');
    return user;
  }

  async function showUser(reply: FastifyReply, auth: Auth, user: User, extra: { notice?: string | null; form?: UserForm; passwordBroken?: string[]; passwordError?: string | null; status?: number } = {}) {
    const [userSessions, activity, resetPending] = await Promise.all([
      sessions.list(user.id),
      audit.list({ userId: user.id, limit: 20 }),
      recovery.hasOpenLink(user.id),
    ]);
    const body = userPage({
      user,
      csrfToken: reply.generateCsrf(),
      sessions: userSessions,
      activity: activity.rows,
      resetPending,
      form: extra.form ?? { email: user.email, name: user.name, role: user.role },
      rules: policy.rules(),
      passwordBroken: extra.passwordBroken,
      passwordError: extra.passwordError,
    });
    return send(reply, auth, user.name, body, extra.notice, extra.status);
  }

  return async (app) => {
    app.get('/admin', async (_request, reply) => reply.redirect('/admin/users', 303));

    app.get('/admin/users', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const query = readQuery(request.query as Record<string, unknown>);
      const { rows, total } = await users.list({
        search: query.search || undefined,
        filters: query.filters,
        sort: query.sort,
        dir: query.dir,
        limit: PER_PAGE,
        offset: (query.page - 1) * PER_PAGE,
      });
      const params = new URLSearchParams();
      if (query.search) params.set('q', query.search);
      for (const filter of query.filters) params.append('filter', filter);
      params.set('sort', query.sort);
      params.set('dir', query.dir);
      return send(reply, auth, 'Users', usersList({ rows, total, ...query, perPage: PER_PAGE, params, csrfToken: reply.generateCsrf() }));
    });

    app.get('/admin/users/new', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return send(reply, auth, 'New User', newUserForm(reply.generateCsrf(), { email: '', name: '', role: 'user' }, policy.rules()));
    });

    app.post('/admin/users', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const form: UserForm = {
        email: field(request.body, 'email', 320),
        name: field(request.body, 'name', 300),
        role: field(request.body, 'role') === 'admin' ? 'admin' : 'user',
      };
      try {
        const user = await users.create({ ...form, password: field(request.body, 'password') || null }, actorOf(request, auth.user.id));
        return reply.redirect(`/admin/users/${user.id}?notice=created`, 303);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return send(reply, auth, 'New User', newUserForm(reply.generateCsrf(), { ...form, errors: error.fields, error: error.message }, policy.rules()), null, error.status);
      }
    });

    app.post('/admin/users/bulk-reset', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const body = (request.body ?? {}) as Record<string, unknown>;
      const scope = body.scope === 'matching' ? 'matching' : 'selected';
      let ids: string[];
      let tooMany = false;
      const hidden: Array<[string, string]> = [['scope', scope]];
      if (scope === 'matching') {
        const query = readQuery(body);
        ids = await users.matchingIds({ search: query.search || undefined, filters: query.filters }, BULK_CAP + 1);
        tooMany = ids.length > BULK_CAP;
        hidden.push(['q', query.search], ...query.filters.map((filter): [string, string] => ['filter', filter]));
      } else {
        ids = [...new Set(list(body.ids).map((id) => id.slice(0, 64)))].slice(0, BULK_CAP);
        hidden.push(...ids.map((id): [string, string] => ['ids', id]));
      }
      if (body.confirmed !== '1' || tooMany || ids.length === 0) {
        const status = ids.length === 0 || tooMany ? 400 : 200;
        return send(reply, auth, 'Send Password Reset Instructions', bulkConfirm({ csrfToken: reply.generateCsrf(), count: ids.length, hidden, tooMany, cap: BULK_CAP }), null, status);
      }
      const queued: User[] = [];
      const refused: Array<{ user: User; reason: string }> = [];
      const actor = actorOf(request, auth.user.id);
      for (const id of ids) {
        try {
          queued.push(await recovery.sendInstructions(id, actor, 'admin'));
        } catch (error) {
          if (!(error instanceof UserError)) throw error;
          const user = await users.get(id);
          if (user) refused.push({ user, reason: error.message });
        }
      }
      return send(reply, auth, 'Reset instructions: summary', bulkSummary(queued, refused));
    });

    app.get('/admin/users/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      const key = (request.query as Record<string, unknown>).notice;
      const notice = noticeFor(NOTICES, key)?.(user) ?? null;
      return showUser(reply, auth, user, { notice });
    });

    app.post('/admin/users/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      const form: UserForm = {
        email: field(request.body, 'email', 320),
        name: field(request.body, 'name', 300),
        role: field(request.body, 'role') === 'admin' ? 'admin' : 'user',
      };
      try {
        await users.update(user.id, form, actorOf(request, auth.user.id));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return showUser(reply, auth, user, { form: { ...form, errors: error.fields, error: error.message }, status: error.status });
      }
      return reply.redirect(`/admin/users/${user.id}?notice=saved`, 303);
    });

    app.get('/admin/users/:id/send-reset', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      return send(reply, auth, 'Send Password Reset Instructions', sendResetConfirm(user, reply.generateCsrf()));
    });

    app.post('/admin/users/:id/send-reset', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      try {
        await recovery.sendInstructions(user.id, actorOf(request, auth.user.id), 'admin');
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return send(reply, auth, 'Send Password Reset Instructions', actionRefused(user, error.message), null, error.status);
      }
      return reply.redirect(`/admin/users/${user.id}?notice=reset-sent`, 303);
    });

    app.post('/admin/users/:id/archive', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await users.archive((await loadUser(request)).id, actorOf(request, auth.user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=archived`, 303);
    });

    app.post('/admin/users/:id/restore', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await users.restore((await loadUser(request)).id, actorOf(request, auth.user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=restored`, 303);
    });

    app.post('/admin/users/:id/end-sessions', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      await sessions.endAllByAdministrator(user, actorOf(request, auth.user.id));
      return reply.redirect(`/admin/users/${user.id}?notice=sessions-ended`, 303);
    });

    app.post('/admin/users/:id/password', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const user = await loadUser(request);
      try {
        await passwords.setByAdministrator(user, field(request.body, 'password'), field(request.body, 'confirmation'), actorOf(request, auth.user.id));
      } catch (error) {
        if (error instanceof PasswordRefused) return showUser(reply, auth, user, { passwordBroken: error.broken, status: 400 });
        if (error instanceof UserError) return showUser(reply, auth, user, { passwordError: error.message, status: error.status });
        throw error;
      }
      return reply.redirect(`/admin/users/${user.id}?notice=password-set`, 303);
    });
  };
}
