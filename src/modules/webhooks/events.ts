// The events a webhook can subscribe to, the audit log entries they come from, and the body each one is sent with.
import type { AuditType } from '../audit/audit.ts';

export const WEBHOOK_EVENTS = [
  'user.created',
  'user.updated',
  'user.archived',
  'user.restored',
  'password.changed',
  'reset.requested',
  'reset.completed',
  'sessions.ended',
  'mail.failed',
  'invitation.sent',
  'invitation.accepted',
  'email.confirmed',
  'mail.bounced',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** How each event reads in the console. */
export const WEBHOOK_EVENT_LABELS: Record<WebhookEvent, string> = {
  'user.created': 'A user was created',
  'user.updated': 'A user’s name, email or role changed',
  'user.archived': 'A user was archived',
  'user.restored': 'A user was restored',
  'password.changed': 'A password was changed (by its user, a reset or an administrator)',
  'reset.requested': 'Password reset instructions were asked for (existing accounts only)',
  'reset.completed': 'A reset link was used to choose a new password',
  'sessions.ended': 'A user’s sessions were ended',
  'mail.failed': 'An email could not be delivered',
  'invitation.sent': 'An invitation was sent to a user created without a password',
  'invitation.accepted': 'An invited user chose a password',
  'email.confirmed': 'A user proved an email address with a link mailed to it',
  'mail.bounced': 'An email bounced: its address was marked undeliverable',
};

/** The audit log entry each event is read from: every one is written inside the transaction of its change. */
export const SOURCE_OF: Record<WebhookEvent, AuditType> = {
  'user.created': 'user.created',
  'user.updated': 'user.updated',
  'user.archived': 'user.archived',
  'user.restored': 'user.restored',
  'password.changed': 'password.changed',
  'reset.requested': 'reset.requested',
  'reset.completed': 'reset.link_used',
  'sessions.ended': 'sessions.ended',
  'mail.failed': 'mail.failed',
  'invitation.sent': 'invitation.sent',
  'invitation.accepted': 'invitation.accepted',
  'email.confirmed': 'email.confirmed',
  'mail.bounced': 'mail.bounced',
};

export const SOURCE_TYPES: AuditType[] = Object.values(SOURCE_OF);
const EVENT_OF = new Map<string, WebhookEvent>(WEBHOOK_EVENTS.map((event) => [SOURCE_OF[event], event]));

/** An audit log entry as the dispatcher reads it. */
export interface SourceEvent {
  id: number;
  at: number;
  type: string;
  user_id: string | null;
  email: string | null;
  detail: string | null;
}

/** The account an event is about, as it stands when the event is read. */
export interface WebhookUser {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  status: 'active' | 'archived';
}

export interface WebhookPayload {
  type: WebhookEvent;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: { user: WebhookUser | null } & Record<string, unknown>;
}

function detailOf(event: SourceEvent): Record<string, unknown> {
  if (!event.detail) return {};
  try {
    const parsed = JSON.parse(event.detail) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const count = (value: unknown) => (typeof value === 'number' ? value : 0);

/**
 * The webhook event an audit entry stands for, with its body, or null when it must not be sent. Bodies name
 * the account and what happened, never a secret, token, link or hash; a reset asked for an address that
 * belongs to nobody is never sent (a receiver must not learn which addresses have accounts).
 */
export function payloadOf(event: SourceEvent, user: WebhookUser | null): WebhookPayload | null {
  const type = EVENT_OF.get(event.type);
  if (!type) return null;
  if (type === 'reset.requested' && (event.user_id === null || user === null)) return null;
  if (type !== 'mail.failed' && type !== 'mail.bounced' && user === null) return null;
  const detail = detailOf(event);
  const timestamp = new Date(event.at).toISOString();
  switch (type) {
    case 'user.updated': {
      const changes = typeof detail.changes === 'object' && detail.changes !== null ? Object.keys(detail.changes) : [];
      return { type, timestamp, data: { user, changed: changes.filter((name) => ['email', 'name', 'role'].includes(name)) } };
    }
    case 'password.changed':
      return { type, timestamp, data: { user, method: typeof detail.how === 'string' ? detail.how : 'unknown', sessionsEnded: count(detail.sessionsEnded) } };
    case 'reset.requested':
      // Whether a link went out (an archived account, or one over its hourly allowance, gets none).
      return { type, timestamp, data: { user, instructionsSent: typeof detail.link === 'string' } };
    case 'sessions.ended':
      return { type, timestamp, data: { user, sessionsEnded: count(detail.ended) } };
    case 'mail.failed':
    case 'mail.bounced':
      return {
        type,
        timestamp,
        data: {
          user,
          mail: { id: typeof detail.message === 'string' ? detail.message : null, to: event.email, error: typeof detail.reply === 'string' ? detail.reply.slice(0, 500) : null },
        },
      };
    default:
      return { type, timestamp, data: { user } };
  }
}
