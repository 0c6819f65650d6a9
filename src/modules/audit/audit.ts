// The append-only audit log: every security event is recorded inside the transaction of the change it describes.
import type { Executor } from '../../infra/db.ts';

export type AuditType =
  | 'reset.requested'
  | 'reset.throttled'
  | 'reset.link_issued'
  | 'reset.link_opened'
  | 'reset.link_used'
  | 'reset.link_refused'
  | 'password.changed'
  | 'password.change_refused'
  | 'login.succeeded'
  | 'login.failed'
  | 'logout'
  | 'sessions.ended'
  | 'user.created'
  | 'mail.queued'
  | 'mail.sent'
  | 'mail.retrying'
  | 'mail.failed';

/** Who did it and from where: the request's address and browser, or the command line. */
export interface Actor {
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export const COMMAND_LINE: Actor = { ip: null, userAgent: 'latchkey command line' };

export interface AuditEntry {
  type: AuditType;
  userId?: string | null;
  email?: string | null;
  detail?: Record<string, unknown>;
}

export async function recordAudit(db: Executor, at: number, actor: Actor, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      at,
      type: entry.type,
      user_id: entry.userId ?? null,
      actor_id: actor.userId ?? null,
      email: entry.email ?? null,
      ip: actor.ip ?? null,
      user_agent: actor.userAgent ? actor.userAgent.slice(0, 300) : null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    })
    .execute();
}
