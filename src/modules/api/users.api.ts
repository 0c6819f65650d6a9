// /api/v1/users: the console's user directory over HTTP — list and search, read, create, change, archive, restore.
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import type { User, UserFilter, UserSort } from '../users/users.repo.ts';
import { apiActor, cursorCodec, KEYED_ERRORS, once, ProblemRef, security, UserRef, type Api } from './route-parts.ts';
import { ApiProblem } from './problems.ts';
import { Email, IdParams, LanguageInput, Name, NoQuery, Page, Password, Role, UserListQuery, userJson } from './schemas.ts';

const userCursor = cursorCodec('users');

export function userRoutes(v1: Api, services: Services): void {
  const { users, sessions, recovery } = services;
  /** The user as the API shows it, with whether a hard bounce marked the address. */
  const json = async (user: User) => userJson(user, (await services.bounces.markOf(user.email)) !== null);

  async function existing(id: string) {
    const user = await users.get(id);
    if (!user) throw new ApiProblem('not-found', 'There is no user with this id.');
    return user;
  }

  v1.get(
    '/users',
    {
      config: { scope: 'users:read' },
      schema: {
        tags: ['Users'],
        summary: 'List and search users',
        description: "The console's users list: search in names and emails, filters that must all hold, a sort, and pages by cursor.",
        security,
        querystring: UserListQuery,
        response: { 200: Page(UserRef), ...KEYED_ERRORS },
      },
    },
    async (request) => {
      const { cursor, limit = 50, ...rest } = request.query;
      const query = { search: rest.q?.trim() || undefined, filters: (rest.filter ?? []) as UserFilter[], sort: (rest.sort ?? 'name') as UserSort, dir: rest.dir ?? 'asc' };
      const offset = userCursor.decode(cursor, query);
      // One more than asked says whether there is a next page, without counting.
      const { rows } = await users.list({ ...query, limit: limit + 1, offset });
      const more = rows.length > limit;
      return { data: rows.slice(0, limit).map((row) => userJson(row, Number(row.undeliverable) === 1)), next_cursor: more ? userCursor.encode(offset + limit, query) : null };
    },
  );

  v1.get(
    '/users/:id',
    { config: { scope: 'users:read' }, schema: { tags: ['Users'], summary: 'Read a user', security, params: IdParams, querystring: NoQuery, response: { 200: UserRef, 404: ProblemRef, ...KEYED_ERRORS } } },
    async (request) => json(await existing(request.params.id)),
  );

  v1.post(
    '/users',
    {
      config: { scope: 'users:write' },
      schema: {
        tags: ['Users'],
        summary: 'Create a user',
        description:
          'Without a password the user is invited: an invitation mail with a link to choose a password (valid LATCHKEY_INVITATION_TTL, 7 days by default) is sent in the same transaction, and the user reads `invited: true` until the password is chosen. A password must pass the policy.',
        security,
        querystring: NoQuery,
        body: Type.Object({ email: Email, name: Name, role: Type.Optional(Role), password: Type.Optional(Password), language: Type.Optional(LanguageInput) }, { additionalProperties: false }),
        response: { 201: UserRef, 409: ProblemRef, 422: ProblemRef, ...KEYED_ERRORS },
      },
    },
    async (request, reply) => {
      const { email, name, role = 'user', password, language = null } = request.body;
      const { user } = await services.addresses.createUser({ email, name, role, password: password ?? null, language }, apiActor(request), 'admin');
      return reply.code(201).send(await json(user));
    },
  );

  v1.patch(
    '/users/:id',
    {
      config: { scope: 'users:write' },
      schema: {
        tags: ['Users'],
        summary: 'Change a user',
        description: "Send only what changes. A changed email voids the user's open reset, invitation and confirmation links and is unverified (email_verified_at null) until the user proves it.",
        security,
        params: IdParams,
        querystring: NoQuery,
        body: Type.Object({ email: Type.Optional(Email), name: Type.Optional(Name), role: Type.Optional(Role), language: Type.Optional(LanguageInput) }, { additionalProperties: false, minProperties: 1 }),
        response: { 200: UserRef, 404: ProblemRef, 409: ProblemRef, ...KEYED_ERRORS },
      },
    },
    async (request) => {
      const user = await existing(request.params.id);
      const { email = user.email, name = user.name, role = user.role, language } = request.body;
      return json(await users.update(user.id, { email, name, role, language }, apiActor(request)));
    },
  );

  for (const [action, summary] of [
    ['archive', 'Archive a user: sessions end, reset links are voided, applications lose access'],
    ['restore', 'Restore an archived user'],
  ] as const) {
    v1.post(
      `/users/:id/${action}`,
      { config: { scope: 'users:write' }, schema: { tags: ['Users'], summary, security, params: IdParams, querystring: NoQuery, response: { 200: UserRef, 404: ProblemRef, 409: ProblemRef, ...KEYED_ERRORS } } },
      async (request) => {
        const user = await existing(request.params.id);
        return json(action === 'archive' ? await users.archive(user.id, apiActor(request)) : await users.restore(user.id, apiActor(request)));
      },
    );
  }

  v1.post(
    '/users/:id/sessions/end',
    {
      config: { scope: 'users:write' },
      schema: {
        tags: ['Users'],
        summary: "End every session of a user, in Latchkey and in the applications signed in through it",
        security,
        params: IdParams,
        querystring: NoQuery,
        response: { 200: Type.Object({ user: UserRef }, { additionalProperties: false }), 404: ProblemRef, ...KEYED_ERRORS },
      },
    },
    async (request) => {
      const user = await existing(request.params.id);
      await sessions.endAllByAdministrator(user, apiActor(request));
      return { user: await json(user) };
    },
  );

  v1.post(
    '/users/import',
    {
      config: { scope: 'users:write' },
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ['Users'],
        summary: 'Import users in a batch',
        description:
          'Up to 1,000 users a call, moving in from another system: each with its existing password hash if it has one ' +
          "(Odoo's pbkdf2-sha512, bcrypt, Better Auth's scrypt, argon2), verified at the user's next login and then rehashed. " +
          'A bad row is reported with its position and left out; with all_or_nothing, nothing is written unless every row is good. ' +
          'Each batch of rows is written in one transaction.',
        security,
        querystring: NoQuery,
        body: Type.Object(
          {
            users: Type.Array(
              Type.Object(
                {
                  email: Type.String({ maxLength: 320 }),
                  name: Type.String({ maxLength: 200 }),
                  role: Type.Optional(Type.String({ maxLength: 20, description: 'user (default) or admin' })),
                  status: Type.Optional(Type.String({ maxLength: 20, description: 'active (default) or archived' })),
                  password_hash: Type.Optional(Type.String({ maxLength: 1000 })),
                },
                { additionalProperties: false },
              ),
              { minItems: 1, maxItems: 1000 },
            ),
            all_or_nothing: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              created: Type.Integer(),
              skipped: Type.Integer(),
              refused: Type.Integer(),
              rows: Type.Array(
                Type.Object(
                  {
                    position: Type.Integer({ description: '1 for the first user of the batch' }),
                    outcome: Type.Union([Type.Literal('created'), Type.Literal('skipped'), Type.Literal('refused')]),
                    email: Type.Union([Type.String(), Type.Null()]),
                    user_id: Type.Optional(Type.String()),
                    reason: Type.Optional(Type.String()),
                  },
                  { additionalProperties: false },
                ),
              ),
            },
            { additionalProperties: false },
          ),
          ...KEYED_ERRORS,
        },
      },
    },
    async (request) => {
      const rows = request.body.users.map((fields, index) => ({ line: index + 1, fields: fields as Record<string, unknown> }));
      const report = await services.userImport.run(rows, { actor: apiActor(request), allOrNothing: request.body.all_or_nothing === true, source: 'api' });
      return {
        created: report.created,
        skipped: report.skipped,
        refused: report.refused,
        rows: report.rows.map((row) => ({
          position: row.line,
          outcome: row.outcome,
          email: row.email,
          ...(row.userId ? { user_id: row.userId } : {}),
          ...(row.reason ? { reason: row.reason } : {}),
        })),
      };
    },
  );

  v1.post(
    '/users/:id/reset-instructions',
    {
      config: { scope: 'resets:send' },
      schema: {
        tags: ['Resets'],
        summary: 'Send password reset instructions',
        description: "The console's Action → Send Password Reset Instructions: a new link (earlier ones stop working) mailed to the user. Send an Idempotency-Key header so that a retry does not send twice.",
        security,
        params: IdParams,
        querystring: NoQuery,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
        response: { 202: Type.Object({ user: UserRef, sent_to: Type.String() }, { additionalProperties: false }), 404: ProblemRef, 409: ProblemRef, 422: ProblemRef, ...KEYED_ERRORS },
      },
    },
    async (request, reply) =>
      once(request, reply, services, async () => {
        const user = await recovery.sendInstructions((await existing(request.params.id)).id, apiActor(request), 'admin');
        return { status: 202, body: { user: await json(user), sent_to: user.email } };
      }),
  );

  for (const [path, summary, description, act] of [
    [
      'invitation',
      'Resend the invitation',
      "The console's Action → Resend Invitation, for a user created without a password who has not chosen one yet: a new invitation link (the earlier one stops working) mailed to the user. Send an Idempotency-Key header so that a retry does not send twice.",
      (id: string, actor: ReturnType<typeof apiActor>) => services.addresses.resendInvitation(id, actor, 'admin'),
    ],
    [
      'confirmation-request',
      'Ask the user to confirm the email address',
      "The console's Action → Ask to Confirm Email: a mail with a link that only confirms the address (no password); using it sets email_verified_at. The earlier such link stops working. Send an Idempotency-Key header so that a retry does not send twice.",
      (id: string, actor: ReturnType<typeof apiActor>) => services.addresses.askToConfirm(id, actor, 'admin'),
    ],
  ] as const) {
    v1.post(
      `/users/:id/${path}`,
      {
        config: { scope: 'resets:send' },
        schema: {
          tags: ['Users'],
          summary,
          description,
          security,
          params: IdParams,
          querystring: NoQuery,
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
          response: { 202: Type.Object({ user: UserRef, sent_to: Type.String() }, { additionalProperties: false }), 404: ProblemRef, 409: ProblemRef, ...KEYED_ERRORS },
        },
      },
      async (request, reply) =>
        once(request, reply, services, async () => {
          const user = await act((await existing(request.params.id)).id, apiActor(request));
          return { status: 202, body: { user: await json(user), sent_to: user.email } };
        }),
    );
  }

  v1.post(
    '/users/:id/reset-link',
    {
      config: { scope: 'resets:send' },
      schema: {
        tags: ['Resets'],
        summary: 'Create a reset link to deliver yourself',
        description: 'A new link (earlier ones stop working), returned this once and never mailed; the audit log records who made it. Links are kept only as a hash, so a retry makes a new link (which replaces this one).',
        security,
        params: IdParams,
        querystring: NoQuery,
        response: {
          201: Type.Object({ user: UserRef, link: Type.String({ format: 'uri' }), expires_at: Type.String({ format: 'date-time' }) }, { additionalProperties: false }),
          404: ProblemRef,
          409: ProblemRef,
          422: ProblemRef,
          ...KEYED_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const { user, link } = await recovery.linkForHand((await existing(request.params.id)).id, apiActor(request));
      const expiresAt = new Date(services.clock.now() + services.config.resetTtlSeconds * 1000).toISOString();
      return reply.code(201).send({ user: await json(user), link, expires_at: expiresAt });
    },
  );
}

