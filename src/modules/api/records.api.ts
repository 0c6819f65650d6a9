// /api/v1/audit and /api/v1/mail: the audit log and the mail queue, read with the console's filters.
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import type { MailStatus } from '../../infra/db.ts';
import { auditLabel, AUDIT_TYPES, type AuditType } from '../audit/audit.ts';
import type { Api } from './route-parts.ts';
import { Limit, Cursor } from './schemas.ts';
import { cursorCodec, KEYED_ERRORS, security } from './route-parts.ts';

const MAIL_STATUSES: MailStatus[] = ['queued', 'sending', 'sent', 'retrying', 'failed', 'cancelled', 'bounced'];
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const AuditEventSchema = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    type: Type.String({ description: 'One of the audit event types; label says it in words' }),
    label: Type.String(),
    user_id: Type.Union([Type.String(), Type.Null()]),
    user_email: Type.Union([Type.String(), Type.Null()], { description: 'The address as recorded (the user may have changed it since: see user_current_email)' }),
    user_current_email: Type.Union([Type.String(), Type.Null()]),
    actor_id: Type.Union([Type.String(), Type.Null()]),
    actor_email: Type.Union([Type.String(), Type.Null()]),
    ip: Type.Union([Type.String(), Type.Null()]),
    user_agent: Type.Union([Type.String(), Type.Null()]),
    detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  { additionalProperties: false },
);

const MailSchema = Type.Object(
  {
    id: Type.String(),
    template: Type.String(),
    to: Type.String(),
    subject: Type.String(),
    user_id: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union(MAIL_STATUSES.map((s) => Type.Literal(s))),
    attempts: Type.Integer(),
    last_error: Type.Union([Type.String(), Type.Null()], { description: 'Why the last attempt failed, in the remote server\'s words' }),
    created_at: Type.String({ format: 'date-time' }),
    sent_at: Time,
    next_attempt_at: Time,
  },
  { additionalProperties: false },
);

const auditCursor = cursorCodec('audit');
const mailCursor = cursorCodec('mail');

function parseTime(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Date.parse(value);
}

export function recordRoutes(v1: Api, services: Services): void {
  v1.get(
    '/audit',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['Records'],
        summary: 'Read the audit log',
        description: "Newest first, with the console's filters.",
        security,
        querystring: Type.Object(
          {
            type: Type.Optional(Type.Union(AUDIT_TYPES.map((t) => Type.Literal(t)))),
            user_id: Type.Optional(Type.String({ maxLength: 64 })),
            email: Type.Optional(Type.String({ maxLength: 320, description: 'The address as recorded' })),
            ip: Type.Optional(Type.String({ maxLength: 64 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Optional(Limit),
            cursor: Type.Optional(Cursor),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(AuditEventSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false }), ...KEYED_ERRORS },
      },
    },
    async (request) => {
      const { cursor, limit = 50, ...filter } = request.query;
      const offset = auditCursor.decode(cursor, filter);
      const { rows } = await services.audit.list({
        type: filter.type as AuditType | undefined,
        userId: filter.user_id,
        email: filter.email?.trim().toLowerCase(),
        ip: filter.ip,
        from: parseTime(filter.from),
        to: parseTime(filter.to),
        limit: limit + 1,
        offset,
      });
      return {
        data: rows.slice(0, limit).map((row) => ({
          id: Number(row.id),
          at: new Date(Number(row.at)).toISOString(),
          type: row.type,
          label: auditLabel(row.type),
          user_id: row.user_id,
          user_email: row.email,
          user_current_email: row.user_email,
          actor_id: row.actor_id,
          actor_email: row.actor_email,
          ip: row.ip,
          user_agent: row.user_agent,
          detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null,
        })),
        next_cursor: rows.length > limit ? auditCursor.encode(offset + limit, filter) : null,
      };
    },
  );

  v1.get(
    '/mail',
    {
      config: { scope: 'mail:read' },
      schema: {
        tags: ['Records'],
        summary: 'Read the mail queue',
        description: 'Newest first; why a mail did not go is in last_error (for a bounced mail, the receiving server\'s words from its delivery status notification). Mail bodies and links are never returned.',
        security,
        querystring: Type.Object(
          { status: Type.Optional(Type.Union(MAIL_STATUSES.map((s) => Type.Literal(s)))), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(MailSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false }), ...KEYED_ERRORS },
      },
    },
    async (request) => {
      const { cursor, limit = 50, status } = request.query;
      const offset = mailCursor.decode(cursor, { status });
      const { rows } = await services.outbox.list({ limit: limit + 1, offset, status: status as MailStatus | undefined });
      return {
        data: rows.slice(0, limit).map((m) => ({
          id: m.id,
          template: m.template,
          to: m.to_address,
          subject: m.subject,
          user_id: m.user_id,
          status: m.status,
          attempts: m.attempts,
          last_error: m.last_error,
          created_at: new Date(m.created_at).toISOString(),
          sent_at: iso(m.sent_at),
          next_attempt_at: m.status === 'queued' || m.status === 'retrying' ? iso(m.next_attempt_at) : null,
        })),
        next_cursor: rows.length > limit ? mailCursor.encode(offset + limit, { status }) : null,
      };
    },
  );
}
