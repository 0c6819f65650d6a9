// The transactional outbox: a mail is a row written in the same transaction as the change that causes it.
import type { SelectQueryBuilder } from 'kysely';
import { forUpdate, type Database, type Executor, type Db, type MailAttemptsTable, type MailMessagesTable, type MailStatus } from '../../infra/db.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import type { Clock } from '../../infra/clock.ts';
import { newOrderedId, type SecretBox } from '../../infra/crypto.ts';
import { inLanguage, type Languages } from '../../infra/i18n.ts';
import { recordAudit, recordAuditsOf, type Actor } from '../audit/audit.ts';
import { LINK_PATHS, renderMail, subjectOf, type MailSettings, type MailTemplate, type RenderedMail } from './templates.ts';

export interface QueuedMail {
  to: string;
  mail: MailTemplate;
  userId?: string | null;
  resetLinkId?: string | null;
  /** A reset token for the link inside the mail; stored sealed, never in the clear. */
  token?: string;
  /** The language to write it in; by default the recipient user's own, else the installation's. */
  language?: string | null;
}

/** Why the worker is woken: new mail to send, or a self-service reset request to act on. */
export type WakeCause = 'mail' | 'request';

export type StoredMessage = Pick<MailMessagesTable, 'template' | 'params' | 'sealed_token' | 'language'>;

/**
 * Wipes the sealed tokens of users' mails: once their links are void, nothing may keep them. `keeping`: the
 * ids of links that stay open (an undo link outlives a password change), whose mails keep their tokens.
 */
export async function forgetSealedTokens(db: Executor, userIds: string | string[], keeping?: SelectQueryBuilder<Database, 'reset_links', { id: string }>): Promise<void> {
  const ids = typeof userIds === 'string' ? [userIds] : userIds;
  if (ids.length === 0) return;
  let query = db.updateTable('mail_messages').set({ sealed_token: null }).where('user_id', 'in', ids).where('sealed_token', 'is not', null);
  if (keeping) query = query.where((eb) => eb.or([eb('reset_link_id', 'is', null), eb('reset_link_id', 'not in', keeping)]));
  await query.execute();
}

/** Statuses of a message that may still go out. */
const WAITING: MailStatus[] = ['queued', 'sending', 'retrying'];

/**
 * Deletes up to `limit` finished messages (sent, failed, cancelled) queued before `before`, with their delivery
 * attempts (retention); returns how many of each. A message that may still go out is never among them.
 */
export async function deleteFinishedMailBefore(db: Executor, before: number, limit: number): Promise<{ messages: number; attempts: number }> {
  // Locked (PostgreSQL) so that a "Retry" cannot put one back in the queue between this and the delete.
  const oldest = await forUpdate(
    db,
    // "not in" the waiting statuses, so SQLite reads the oldest through mail_messages_created instead of every sent mail.
    db.selectFrom('mail_messages').select('id').where('created_at', '<', before).where('status', 'not in', WAITING).orderBy('created_at').limit(limit),
  ).execute();
  const ids = oldest.map((row) => row.id);
  if (ids.length === 0) return { messages: 0, attempts: 0 };
  const attempts = await db.deleteFrom('mail_attempts').where('message_id', 'in', ids).executeTakeFirst();
  const messages = await db.deleteFrom('mail_messages').where('id', 'in', ids).executeTakeFirst();
  return { messages: Number(messages.numDeletedRows), attempts: Number(attempts.numDeletedRows) };
}

export class Outbox {
  private readonly listeners = new Set<(cause: WakeCause) => void>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    readonly settings: MailSettings,
    private readonly languages: Languages,
    /** The languages recipients chose, by user id (the users module's; handed in, so mail does not import users). */
    private readonly languagesOfUsers: (db: Executor, ids: string[]) => Promise<Map<string, string>>,
  ) {}

  async enqueue(db: Executor, actor: Actor, queued: QueuedMail): Promise<string> {
    const [id] = await this.enqueueMany(db, [{ actor, queued }]);
    return id!;
  }

  /** Several mails in two statements (rows and their audit events); each with the actor who caused it. */
  async enqueueMany(db: Executor, mails: Array<{ actor: Actor; queued: QueuedMail }>): Promise<string[]> {
    if (mails.length === 0) return [];
    const now = this.clock.now();
    // Each mail in its recipient's language: the users' own, read in one query, where the caller named none.
    const unnamed = [...new Set(mails.filter(({ queued }) => queued.language === undefined && queued.userId).map(({ queued }) => queued.userId!))];
    const chosen = await this.languagesOfUsers(db, unnamed);
    const rows = mails.map(({ queued }) => {
      const language = queued.language !== undefined ? queued.language : queued.userId ? (chosen.get(queued.userId) ?? null) : null;
      return { queued, language, translator: this.languages.get(language) };
    }).map(({ queued, language, translator }) => ({
      id: newOrderedId(),
      template: queued.mail.template,
      to_address: queued.to,
      subject: inLanguage(translator, () => subjectOf(queued.mail)),
      language: translator.lang,
      params: JSON.stringify(queued.mail.params),
      sealed_token: queued.token ? this.box.seal(queued.token) : null,
      user_id: queued.userId ?? null,
      reset_link_id: queued.resetLinkId ?? null,
      status: 'queued' as const,
      attempts: 0,
      next_attempt_at: now,
      lease_until: null,
      claim_id: null,
      last_error: null,
      transport: null,
      created_at: now,
      sent_at: null,
    }));
    await db.insertInto('mail_messages').values(rows).execute();
    await recordAuditsOf(
      db,
      rows.map((row, index) => ({
        at: now,
        actor: mails[index]!.actor,
        entry: { type: 'mail.queued', userId: row.user_id, email: row.to_address, detail: { message: row.id, template: row.template } },
      })),
    );
    // Tell the worker after the caller's transaction: on SQLite the worker's queries wait for it to end.
    this.notify();
    return rows.map((row) => row.id);
  }

  /** Wakes the worker: soon for new mail; for a waiting reset request, at a random moment (see MailWorker). */
  notify(cause: WakeCause = 'mail'): void {
    setImmediate(() => this.listeners.forEach((listener) => listener(cause)));
  }

  onEnqueue(listener: (cause: WakeCause) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The mail as it is sent: with the real link when `reveal`, else with the token masked. */
  render(message: StoredMessage, reveal: boolean): RenderedMail {
    const mail = { template: message.template, params: JSON.parse(message.params) } as MailTemplate;
    const token = reveal && message.sealed_token ? this.box.open(message.sealed_token) : null;
    return inLanguage(this.languages.get(message.language), () => renderMail(mail, token ? this.linkFor(token, mail.template) : null, this.settings));
  }

  /** Whether the message's reset link can still be put in the mail. */
  canReveal(message: StoredMessage): boolean {
    return message.sealed_token !== null && this.box.open(message.sealed_token) !== null;
  }

  forgetTokens(db: Executor, userId: string): Promise<void> {
    return forgetSealedTokens(db, userId);
  }

  /** Wipes the sealed tokens of mails whose links have expired (the development mailbox keeps them until then). */
  async forgetExpiredTokens(db: Executor, now: number): Promise<void> {
    await db
      .updateTable('mail_messages')
      .set({ sealed_token: null })
      .where('sealed_token', 'is not', null)
      .where('reset_link_id', 'in', (eb) => eb.selectFrom('reset_links').select('id').where('expires_at', '<=', now))
      .execute();
  }

  /** The emailed link: the page of the mail's kind (a reset by default), with the token. */
  linkFor(token: string, template: MailTemplate['template'] = 'reset'): string {
    return `${this.settings.baseUrl.href}${LINK_PATHS[template] ?? LINK_PATHS.reset}/${token}`;
  }

  async list(options: { limit: number; offset?: number; status?: MailStatus }) {
    let query = this.db.selectFrom('mail_messages');
    if (options.status) query = query.where('status', '=', options.status);
    const rows = await query.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).offset(options.offset ?? 0).execute();
    const count = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { rows, total: Number(count.n) };
  }

  /** One message with every attempt to deliver it, oldest first. */
  async get(id: string): Promise<{ message: MailMessagesTable; attempts: MailAttemptsTable[] }> {
    const message = await this.db.selectFrom('mail_messages').selectAll().where('id', '=', id.slice(0, 64)).executeTakeFirst();
    if (!message) throw new NotFoundError('There is no such message in the mail queue.');
    const attempts = await this.db.selectFrom('mail_attempts').selectAll().where('message_id', '=', message.id).orderBy('at').orderBy('id').execute();
    return { message, attempts };
  }

  /** How much mail waits, and how long the oldest due message has waited (for metrics and readiness). */
  async stats(): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
    const now = this.clock.now();
    const row = await this.db
      .selectFrom('mail_messages')
      .select((eb) => [eb.fn.countAll<number>().as('depth'), eb.fn.min<number>('next_attempt_at').as('oldest')])
      .where('status', 'in', ['queued', 'retrying', 'sending'])
      .executeTakeFirstOrThrow();
    const oldest = row.oldest === null ? null : Number(row.oldest);
    return { depth: Number(row.depth), oldestDueAgeSeconds: oldest !== null && oldest <= now ? (now - oldest) / 1000 : 0 };
  }

  /** "Retry": a message that is waiting, failed or cancelled is due again now. */
  async retry(id: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const message = await trx.selectFrom('mail_messages').selectAll().where('id', '=', id).executeTakeFirst();
      if (!message) throw new UserError('There is no such message in the mail queue.', 404);
      if (!['retrying', 'failed', 'cancelled', 'queued'].includes(message.status)) {
        throw new UserError(`This message is ${message.status}: only a waiting, failed or cancelled message can be retried.`, 409);
      }
      await trx.updateTable('mail_messages').set({ status: 'queued', next_attempt_at: this.clock.now(), lease_until: null, claim_id: null }).where('id', '=', id).execute();
      await recordAudit(trx, this.clock.now(), actor, { type: 'mail.retry_requested', userId: message.user_id, email: message.to_address, detail: { message: id } });
    });
    this.notify();
  }

  /** "Cancel": a message that has not gone yet will not be sent. */
  async cancel(id: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const message = await trx.selectFrom('mail_messages').selectAll().where('id', '=', id).executeTakeFirst();
      if (!message) throw new UserError('There is no such message in the mail queue.', 404);
      if (!['queued', 'retrying'].includes(message.status)) {
        throw new UserError(`This message is ${message.status}: only a queued or retrying message can be cancelled.`, 409);
      }
      await trx.updateTable('mail_messages').set({ status: 'cancelled', last_error: 'Cancelled by an administrator.' }).where('id', '=', id).execute();
      await recordAudit(trx, this.clock.now(), actor, { type: 'mail.cancelled', userId: message.user_id, email: message.to_address, detail: { message: id, by: 'administrator' } });
    });
  }
}
