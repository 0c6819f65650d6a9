// The append-only audit log: every security event is recorded inside the transaction of the change it describes.
// Business rules only write it; the console, its CSV export and the Security view read it (audit.service.ts).
import type { Executor } from '../../infra/db.ts';
import { insertAuditEvent, insertAuditEvents } from './audit.repo.ts';

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
  | 'login.throttled'
  | 'logout'
  | 'sessions.ended'
  | 'user.created'
  | 'user.updated'
  | 'user.archived'
  | 'user.restored'
  | 'users.imported'
  | 'users.exported'
  | 'mail.queued'
  | 'mail.sent'
  | 'mail.retrying'
  | 'mail.failed'
  | 'mail.cancelled'
  | 'mail.retry_requested'
  | 'mail.test_sent'
  | 'mail.bounced'
  | 'mail.bounce_ignored'
  | 'mail.address_deliverable'
  | 'mail_server.created'
  | 'mail_server.updated'
  | 'mail_server.deleted'
  | 'mail_server.tested'
  | 'security.alert'
  | 'security.alert_acknowledged'
  | 'retention.cleaned'
  | 'application.created'
  | 'application.updated'
  | 'application.removed'
  | 'application.secret_rotated'
  | 'webhook.created'
  | 'webhook.updated'
  | 'webhook.secret_rotated'
  | 'webhook.deleted'
  | 'oidc.signed_in'
  | 'oidc.consent_given'
  | 'oidc.key_rotated'
  | 'oidc.revoked'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'api_key.used'
  | 'two_step.enabled'
  | 'two_step.used'
  | 'two_step.failed'
  | 'two_step.removed'
  | 'two_step.passkey_removed'
  | 'two_step.recovery_code_used'
  | 'two_step.recovery_codes_created'
  | 'invitation.sent'
  | 'invitation.accepted'
  | 'email.confirmation_requested'
  | 'email.confirmed'
  | 'email.change_requested'
  | 'email.change_refused'
  | 'email.change_undone';

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

function eventOf(at: number, actor: Actor, entry: AuditEntry) {
  return {
    at,
    type: entry.type,
    user_id: entry.userId ?? null,
    actor_id: actor.userId ?? null,
    email: entry.email ?? null,
    ip: actor.ip ?? null,
    user_agent: actor.userAgent ? actor.userAgent.slice(0, 300) : null,
    detail: entry.detail ? JSON.stringify(entry.detail) : null,
  };
}

export async function recordAudit(db: Executor, at: number, actor: Actor, entry: AuditEntry): Promise<void> {
  await insertAuditEvent(db, eventOf(at, actor, entry));
}

/** Several events of one actor in one statement (the mail worker records a batch's outcomes so). */
export async function recordAudits(db: Executor, actor: Actor, entries: Array<AuditEntry & { at: number }>): Promise<void> {
  await insertAuditEvents(db, entries.map((entry) => eventOf(entry.at, actor, entry)));
}

/** Several events, each with its own time and actor, in one statement (a batch of reset requests). */
export async function recordAuditsOf(db: Executor, items: Array<{ at: number; actor: Actor; entry: AuditEntry }>): Promise<void> {
  await insertAuditEvents(db, items.map((item) => eventOf(item.at, item.actor, item.entry)));
}

/** How each event reads on the Audit Log page and in the CSV export. */
export const AUDIT_LABELS: Record<AuditType, string> = {
  'reset.requested': 'Reset requested',
  'reset.throttled': 'Reset request over the hourly limit (no mail)',
  'reset.link_issued': 'Reset link issued',
  'reset.link_opened': 'Reset link opened',
  'reset.link_used': 'Reset link used',
  'reset.link_refused': 'Reset link refused',
  'password.changed': 'Password changed',
  'password.change_refused': 'Password change refused',
  'login.succeeded': 'Login succeeded',
  'login.failed': 'Login failed',
  'login.throttled': 'Login refused: too many failures',
  logout: 'Logged out',
  'sessions.ended': 'Sessions ended',
  'user.created': 'User created',
  'user.updated': 'User changed',
  'user.archived': 'User archived',
  'user.restored': 'User restored',
  'users.imported': 'Users imported',
  'users.exported': 'Users exported',
  'mail.queued': 'Mail queued',
  'mail.sent': 'Mail sent',
  'mail.retrying': 'Mail delivery failed, will retry',
  'mail.failed': 'Mail delivery failed',
  'mail.cancelled': 'Mail cancelled',
  'mail.retry_requested': 'Mail retry requested',
  'mail.test_sent': 'Test email sent',
  'mail.bounced': 'Mail bounced: address marked undeliverable',
  'mail.bounce_ignored': 'Inbound mail ignored (not a valid bounce)',
  'mail.address_deliverable': 'Undeliverable mark cleared: the mailbox was proven',
  'mail_server.created': 'Mail server added',
  'mail_server.updated': 'Mail server changed',
  'mail_server.deleted': 'Mail server removed',
  'mail_server.tested': 'Mail server tested',
  'security.alert': 'Security alert raised',
  'security.alert_acknowledged': 'Security alert acknowledged',
  'retention.cleaned': 'Old records removed',
  'application.created': 'Application registered',
  'application.updated': 'Application changed',
  'application.removed': 'Application removed',
  'application.secret_rotated': 'Application secret rotated',
  'webhook.created': 'Webhook added',
  'webhook.updated': 'Webhook changed',
  'webhook.secret_rotated': 'Webhook secret rotated',
  'webhook.deleted': 'Webhook deleted',
  'oidc.signed_in': 'Signed in to an application',
  'oidc.consent_given': 'Application allowed',
  'oidc.key_rotated': 'Signing key rotated',
  'oidc.revoked': 'Application sign-ins revoked',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'api_key.used': 'API called',
  'two_step.enabled': 'Two-step verification set up',
  'two_step.used': 'Second step passed',
  'two_step.failed': 'Second step failed',
  'two_step.removed': 'Two-step verification removed',
  'two_step.passkey_removed': 'Passkey removed',
  'two_step.recovery_code_used': 'Recovery code used',
  'two_step.recovery_codes_created': 'Recovery codes made',
  'invitation.sent': 'Invitation sent',
  'invitation.accepted': 'Invitation accepted',
  'email.confirmation_requested': 'Email confirmation asked for',
  'email.confirmed': 'Email address confirmed',
  'email.change_requested': 'Email change asked for',
  'email.change_refused': 'Email change refused',
  'email.change_undone': 'Email change undone',
};

export const AUDIT_TYPES = Object.keys(AUDIT_LABELS) as AuditType[];

/**
 * Events a stranger can cause without an account, recorded without a user when the address or link belongs
 * to nobody: the ones an anonymous flood multiplies, kept for LATCHKEY_RETENTION_ANONYMOUS_DAYS.
 */
export const ANONYMOUS_TYPES: readonly AuditType[] = ['reset.requested', 'login.failed', 'login.throttled', 'reset.link_refused'];
