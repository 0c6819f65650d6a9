// The courier: claims due messages from the outbox with a lease, delivers them, retries with backoff, gives up visibly.
import type { ExpressionBuilder } from 'kysely';
import type { Database, Db, MailMessagesTable } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId } from '../../infra/crypto.ts';
import type { Logger } from '../../infra/logger.ts';
import { recordAudit } from '../audit/audit.ts';
import type { Outbox } from './outbox.ts';
import { DeliveryError, type MailTransport } from './transport.ts';

export interface WorkerOptions {
  from: string;
  replyTo?: string | null;
  /** How long after a mail was queued the worker keeps retrying it. */
  retryHorizonMs: number;
  /** Print reset links to the log when they land in the development mailbox. */
  logLinks: boolean;
  pollIntervalMs?: number;
  leaseMs?: number;
  batchSize?: number;
}

/** The development mailbox: with no SMTP server, mail is kept in the database and read on the Mail Queue page. */
export const MAILBOX = 'development mailbox';

const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 60 * 60_000;

/** Exponential backoff with full jitter between half and all of the step. */
export function retryDelay(attempts: number, random = Math.random): number {
  const step = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

export class MailWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly outbox: Outbox,
    /** The servers to try, in order; none means the development mailbox. */
    private readonly transports: () => Promise<MailTransport[]>,
    private readonly logger: Logger,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.outbox.onEnqueue(() => this.nudge());
    this.nudge();
  }

  /** Finishes the messages in hand, then stops; nothing is claimed after this is called. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.deliverDue()
      .catch((error: unknown) => this.logger.error({ err: error }, 'mail worker pass failed'))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.nudge();
        } else {
          this.timer = setTimeout(() => this.nudge(), this.options.pollIntervalMs ?? 1000);
          this.timer.unref();
        }
      });
  }

  /** Delivers every message that is due now, waiting for a pass already under way; for tests and the command line. */
  async drain(): Promise<void> {
    await this.running;
    await this.deliverDue();
    await this.running;
  }

  private async deliverDue(): Promise<void> {
    for (;;) {
      const batch = await this.claim();
      if (batch.length === 0) return;
      await Promise.all(batch.map((message) => this.deliver(message)));
      if (this.stopped) return;
    }
  }

  private get leaseMs(): number {
    return this.options.leaseMs ?? 120_000;
  }

  private async claim(): Promise<MailMessagesTable[]> {
    const now = this.clock.now();
    const dueCondition = (eb: ExpressionBuilder<Database, 'mail_messages'>) =>
      eb.or([
        eb.and([eb('status', 'in', ['queued', 'retrying']), eb('next_attempt_at', '<=', now)]),
        // A lease that ran out means a worker died mid-send: the message is due again.
        eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', now)]),
      ]);
    const interrupted = new Set(
      (await this.db.selectFrom('mail_messages').select('id').where('status', '=', 'sending').where('lease_until', '<', now).execute()).map((row) => row.id),
    );
    const due = this.db.selectFrom('mail_messages').select('id').where(dueCondition).orderBy('next_attempt_at').limit(this.options.batchSize ?? 20);
    const claimed = await this.db
      .updateTable('mail_messages')
      .set({ status: 'sending', lease_until: now + this.leaseMs })
      .where('id', 'in', due)
      .where(dueCondition)
      .returningAll()
      .execute();
    for (const message of claimed.filter((row) => interrupted.has(row.id))) {
      await this.db
        .insertInto('mail_attempts')
        .values({
          id: newId(),
          message_id: message.id,
          at: now,
          server: 'unknown',
          outcome: 'temporary',
          reply: 'The previous attempt was interrupted (Latchkey stopped while sending); the mail may have been delivered once already.',
        })
        .execute();
    }
    return claimed;
  }

  /** Keeps the claim alive while a slow server takes its time, so no other worker sends the same mail. */
  private holdLease(message: MailMessagesTable): { current(): number | null; release(): void } {
    let lease = message.lease_until;
    const timer = setInterval(() => {
      if (lease === null) return;
      const next = this.clock.now() + this.leaseMs;
      const held = lease;
      void this.db
        .updateTable('mail_messages')
        .set({ lease_until: next })
        .where('id', '=', message.id)
        .where('lease_until', '=', held)
        .executeTakeFirst()
        .then((result) => {
          lease = Number(result.numUpdatedRows) === 1 ? next : null;
        }, () => undefined);
    }, Math.max(1000, this.leaseMs / 3));
    timer.unref();
    return { current: () => lease, release: () => clearInterval(timer) };
  }

  private async deliver(message: MailMessagesTable): Promise<void> {
    const lease = this.holdLease(message);
    try {
      await this.deliverHeld(message, lease.current);
    } finally {
      lease.release();
    }
  }

  private async deliverHeld(message: MailMessagesTable, lease: () => number | null): Promise<void> {
    const skip = await this.reasonNotToSend(message);
    if (skip) {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('mail_messages')
          .set({ status: 'cancelled', lease_until: null, last_error: skip, sealed_token: null })
          .where('id', '=', message.id)
          .execute();
        await recordAudit(trx, this.clock.now(), { userAgent: 'mail worker' }, { type: 'mail.cancelled', userId: message.user_id, email: message.to_address, detail: { message: message.id, reason: skip } });
      });
      return;
    }
    const rendered = this.outbox.render(message, true);
    const transports = await this.transports();
    if (transports.length === 0) {
      await this.finish(message, lease(), this.clock.now(), MAILBOX, 'sent', 'kept in the development mailbox', true);
      if (this.options.logLinks && message.sealed_token) {
        const link = rendered.text.split('\n').find((line) => line.includes('/reset-password/'));
        this.logger.info({ to: message.to_address, link }, 'development mailbox: reset link');
      }
      return;
    }
    // In priority order; a server that cannot be reached hands the message to the next one.
    let failure: DeliveryError | null = null;
    let lastServer = '';
    for (const [index, transport] of transports.entries()) {
      const attemptAt = this.clock.now();
      lastServer = transport.name;
      try {
        const { reply } = await transport.send({
          from: transport.from ?? this.options.from,
          replyTo: this.options.replyTo ?? undefined,
          to: message.to_address,
          subject: rendered.subject,
          text: rendered.text,
          html: rendered.html,
        });
        await this.finish(message, lease(), attemptAt, transport.name, 'sent', reply, false);
        return;
      } catch (error) {
        failure = error instanceof DeliveryError ? error : new DeliveryError(String(error), false, false);
        const tryNext = failure.connectionLevel && index < transports.length - 1;
        if (!tryNext) break;
        await this.db.insertInto('mail_attempts').values({ id: newId(), message_id: message.id, at: attemptAt, server: transport.name, outcome: 'temporary', reply: `${failure.message} Trying the next server.` }).execute();
      }
    }
    const attempts = message.attempts + 1;
    const nextAt = this.clock.now() + retryDelay(attempts);
    const givingUp = failure!.permanent || nextAt > message.created_at + this.options.retryHorizonMs;
    await this.finish(message, lease(), this.clock.now(), lastServer, givingUp ? 'permanent' : 'temporary', failure!.message, false, nextAt);
  }

  private async reasonNotToSend(message: MailMessagesTable): Promise<string | null> {
    if (!message.reset_link_id) return null;
    const link = await this.db
      .selectFrom('reset_links')
      .select(['expires_at', 'used_at', 'revoked_at'])
      .where('id', '=', message.reset_link_id)
      .executeTakeFirst();
    if (!link) return 'The reset link of this mail no longer exists.';
    if (link.used_at !== null) return 'The reset link was used before this mail went out.';
    if (link.revoked_at !== null) return 'The reset link was replaced or voided before this mail went out.';
    if (link.expires_at <= this.clock.now()) return 'The reset link expired before this mail could be delivered.';
    return null;
  }

  /**
   * Records the attempt and the message's new state. The state changes only while this worker still holds
   * the lease it claimed: if another worker took the message over, that worker's outcome stands.
   */
  private async finish(
    message: MailMessagesTable,
    lease: number | null,
    at: number,
    server: string,
    outcome: 'sent' | 'temporary' | 'permanent',
    reply: string,
    keepToken: boolean,
    nextAt = 0,
  ): Promise<void> {
    const attempts = message.attempts + 1;
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('mail_attempts').values({ id: newId(), message_id: message.id, at, server, outcome, reply }).execute();
      const common = { attempts, lease_until: null, transport: server };
      const change =
        outcome === 'sent'
          ? { ...common, status: 'sent' as const, sent_at: this.clock.now(), last_error: null, ...(keepToken ? {} : { sealed_token: null }) }
          : outcome === 'temporary'
            ? { ...common, status: 'retrying' as const, next_attempt_at: nextAt, last_error: reply }
            : { ...common, status: 'failed' as const, last_error: reply };
      const updated = await trx
        .updateTable('mail_messages')
        .set(change)
        .where('id', '=', message.id)
        .where('status', '=', 'sending')
        .where('lease_until', '=', lease ?? -1)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) {
        this.logger.warn({ message: message.id }, 'mail worker lost the lease of a message while sending it');
        return;
      }
      const type = outcome === 'sent' ? 'mail.sent' : outcome === 'temporary' ? 'mail.retrying' : 'mail.failed';
      await recordAudit(trx, at, { userAgent: 'mail worker' }, {
        type,
        userId: message.user_id,
        email: message.to_address,
        detail: { message: message.id, server, reply },
      });
    });
  }
}
