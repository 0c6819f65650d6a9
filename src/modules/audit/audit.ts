// The append-only audit log: every security event is recorded inside the transaction of the change it describes.
// Business rules only write it; the console, its CSV export and the Security view read it (audit.service.ts).
import type { Executor } from '../../infra/db.ts';
import { insertAuditEvent, insertAuditEvents } from './audit.repo.ts';
import { t } from '../../infra/i18n.ts';

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

/** How each event reads on the Audit Log page and in the CSV export, in the reader's language (called as it is shown). */
export const AUDIT_LABELS: Record<AuditType, () => string> = {
  'reset.requested': () => t('audit.event.resetRequested'),
  'reset.throttled': () => t('audit.event.resetThrottled'),
  'reset.link_issued': () => t('audit.event.resetLinkIssued'),
  'reset.link_opened': () => t('audit.event.resetLinkOpened'),
  'reset.link_used': () => t('audit.event.resetLinkUsed'),
  'reset.link_refused': () => t('audit.event.resetLinkRefused'),
  'password.changed': () => t('audit.event.passwordChanged'),
  'password.change_refused': () => t('audit.event.passwordChangeRefused'),
  'login.succeeded': () => t('audit.event.loginSucceeded'),
  'login.failed': () => t('audit.event.loginFailed'),
  'login.throttled': () => t('audit.event.loginThrottled'),
  logout: () => t('audit.event.logout'),
  'sessions.ended': () => t('audit.event.sessionsEnded'),
  'user.created': () => t('audit.event.userCreated'),
  'user.updated': () => t('audit.event.userUpdated'),
  'user.archived': () => t('audit.event.userArchived'),
  'user.restored': () => t('audit.event.userRestored'),
  'users.imported': () => t('audit.event.usersImported'),
  'users.exported': () => t('audit.event.usersExported'),
  'mail.queued': () => t('audit.event.mailQueued'),
  'mail.sent': () => t('audit.event.mailSent'),
  'mail.retrying': () => t('audit.event.mailRetrying'),
  'mail.failed': () => t('audit.event.mailFailed'),
  'mail.cancelled': () => t('audit.event.mailCancelled'),
  'mail.retry_requested': () => t('audit.event.mailRetryRequested'),
  'mail.test_sent': () => t('audit.event.mailTestSent'),
  'mail.bounced': () => t('audit.event.mailBounced'),
  'mail.bounce_ignored': () => t('audit.event.mailBounceIgnored'),
  'mail.address_deliverable': () => t('audit.event.mailAddressDeliverable'),
  'mail_server.created': () => t('audit.event.mailServerCreated'),
  'mail_server.updated': () => t('audit.event.mailServerUpdated'),
  'mail_server.deleted': () => t('audit.event.mailServerDeleted'),
  'mail_server.tested': () => t('audit.event.mailServerTested'),
  'security.alert': () => t('audit.event.securityAlert'),
  'security.alert_acknowledged': () => t('audit.event.securityAlertAcknowledged'),
  'retention.cleaned': () => t('audit.event.retentionCleaned'),
  'application.created': () => t('audit.event.applicationCreated'),
  'application.updated': () => t('audit.event.applicationUpdated'),
  'application.removed': () => t('audit.event.applicationRemoved'),
  'application.secret_rotated': () => t('audit.event.applicationSecretRotated'),
  'webhook.created': () => t('audit.event.webhookCreated'),
  'webhook.updated': () => t('audit.event.webhookUpdated'),
  'webhook.secret_rotated': () => t('audit.event.webhookSecretRotated'),
  'webhook.deleted': () => t('audit.event.webhookDeleted'),
  'oidc.signed_in': () => t('audit.event.oidcSignedIn'),
  'oidc.consent_given': () => t('audit.event.oidcConsentGiven'),
  'oidc.key_rotated': () => t('audit.event.oidcKeyRotated'),
  'oidc.revoked': () => t('audit.event.oidcRevoked'),
  'api_key.created': () => t('audit.event.apiKeyCreated'),
  'api_key.revoked': () => t('audit.event.apiKeyRevoked'),
  'api_key.used': () => t('audit.event.apiKeyUsed'),
  'two_step.enabled': () => t('audit.event.twoStepEnabled'),
  'two_step.used': () => t('audit.event.twoStepUsed'),
  'two_step.failed': () => t('audit.event.twoStepFailed'),
  'two_step.removed': () => t('audit.event.twoStepRemoved'),
  'two_step.passkey_removed': () => t('audit.event.twoStepPasskeyRemoved'),
  'two_step.recovery_code_used': () => t('audit.event.twoStepRecoveryCodeUsed'),
  'two_step.recovery_codes_created': () => t('audit.event.twoStepRecoveryCodesCreated'),
  'invitation.sent': () => t('audit.event.invitationSent'),
  'invitation.accepted': () => t('audit.event.invitationAccepted'),
  'email.confirmation_requested': () => t('audit.event.emailConfirmationRequested'),
  'email.confirmed': () => t('audit.event.emailConfirmed'),
  'email.change_requested': () => t('audit.event.emailChangeRequested'),
  'email.change_refused': () => t('audit.event.emailChangeRefused'),
  'email.change_undone': () => t('audit.event.emailChangeUndone'),
};

/** An event's label, or its type when it is one this version does not know. */
export function auditLabel(type: string): string {
  return (AUDIT_LABELS as Record<string, (() => string) | undefined>)[type]?.() ?? type;
}

export const AUDIT_TYPES = Object.keys(AUDIT_LABELS) as AuditType[];

/**
 * Events a stranger can cause without an account, recorded without a user when the address or link belongs
 * to nobody: the ones an anonymous flood multiplies, kept for LATCHKEY_RETENTION_ANONYMOUS_DAYS.
 */
export const ANONYMOUS_TYPES: readonly AuditType[] = ['reset.requested', 'login.failed', 'login.throttled', 'reset.link_refused'];
