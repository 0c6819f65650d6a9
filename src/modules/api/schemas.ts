// The JSON API's shapes, as TypeBox schemas: they validate requests, type the handlers and write the OpenAPI document.
import { Type, type Static } from 'typebox';
import { isInvited, USER_FILTERS, USER_SORTS, type User } from '../users/users.repo.ts';
import { API_SCOPES } from '../apikeys/apikeys.service.ts';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const UserSchema = Type.Object(
  {
    id: Type.String({ description: 'Stable identifier; never changes, never the email' }),
    email: Type.String({ format: 'email' }),
    name: Type.String(),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    status: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
    created_at: Type.String({ format: 'date-time' }),
    last_login_at: Time,
    password_changed_at: Time,
    has_password: Type.Boolean(),
    invited: Type.Boolean({ description: 'Created without a password and not yet chosen one: the console shows the status "Invited"' }),
    email_verified_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When the user last proved the address by using an emailed link; null: unverified' }),
    language: Type.Union([Type.String(), Type.Null()], { description: "The language of the user's pages and mails (a code of the installation's languages: en, fr, de, es); null: the browser's for pages, LATCHKEY_LANGUAGE for mails" }),
    undeliverable: Type.Boolean({ description: 'A hard bounce marked the address: mail to it does not arrive (cleared when a link mailed to it is used: a reset, an invitation or an address confirmation)' }),
  },
  { $id: 'User', additionalProperties: false },
);
export type ApiUser = Static<typeof UserSchema>;

/** A language to set: one of the installation's codes, or null for none (checked by the user directory). */
export const LanguageInput = Type.Union([Type.String({ maxLength: 35 }), Type.Null()], { description: 'A language code of the installation (en, fr, de, es), or null for none; another code is refused with 400' });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function userJson(user: User, undeliverable: boolean): ApiUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    status: user.status,
    created_at: new Date(user.created_at).toISOString(),
    last_login_at: iso(user.last_login_at),
    password_changed_at: iso(user.password_changed_at),
    has_password: user.password_hash !== null,
    invited: isInvited(user),
    email_verified_at: iso(user.email_verified_at),
    language: user.language,
    undeliverable,
  };
}

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ format: 'uri', description: 'Stable per kind of error; its section in /api/docs says what to do' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String({ description: 'What went wrong, for a person' }),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }, { additionalProperties: false }), { description: 'Every field that failed' })),
    broken: Type.Optional(Type.Array(Type.String(), { description: 'The password rules the password breaks' })),
    state: Type.Optional(Type.String({ description: 'Why a reset link cannot be used: used, expired, revoked or invalid' })),
    reference: Type.Optional(Type.String()),
  },
  { $id: 'Problem' },
);

export const Email = Type.String({ minLength: 3, maxLength: 254, format: 'email' });
export const Name = Type.String({ minLength: 1, maxLength: 100 });
export const Role = Type.Union([Type.Literal('user'), Type.Literal('admin')]);
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const Id = Type.String({ minLength: 1, maxLength: 64 });
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

/** For routes that take no query parameters: any given is refused, like unknown body fields. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 });
export const Cursor = Type.String({ maxLength: 200, description: 'next_cursor of the previous page' });

export const UserListQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 200, description: 'Search in names and emails' })),
    filter: Type.Optional(Type.Array(Type.Union(USER_FILTERS.map((f) => Type.Literal(f))), { description: 'Repeat for several: all must hold' })),
    sort: Type.Optional(Type.Union(USER_SORTS.map((s) => Type.Literal(s)), { default: 'name' })),
    dir: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object(
    {
      data: Type.Array(item),
      next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last page' }),
    },
    { additionalProperties: false },
  );

export const Scope = Type.Union(API_SCOPES.map((s) => Type.Literal(s)));
