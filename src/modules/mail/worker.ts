// The courier: claims due messages from the outbox with a lease, delivers them, retries with backoff, gives up visibly.
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { ExpressionBuilder } from 'kysely';
import { forUpdateSkipLocked, onOneInstance, type Database, type Db, type MailAttemptsTable, type MailMessagesTable } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId, randomToken } from '../../infra/crypto.ts';
import type { Logger } from '../../infra/logger.ts';
import { recordAudit } from '../audit/audit.ts';
import { linkStateForMail, type MailLinkState } from '../recovery/reset-links.repo.ts';
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

const GATHER_MS = 10;
const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 60 * 60_000;

/** Exponential backoff with full jitter between half and all of the step. */
export function retryDelay(attempts: number, random = Math.random): number {
  const step = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** What became of one claimed message; written with the rest of its batch in one transaction. */
type Outcome =
  | { message: MailMessagesTable; kind: 'cancelled'; reason: string }
  | {
      message: MailMessagesTable;
      kind: 'sent' | 'temporary' | 'permanent';
      server: string;
      reply: string;
      keepToken: boolean;
      nextAt: number;
      /** Servers tried before this one, that could not be reached. */
      earlier: Array<Pick<MailAttemptsTable, 'at' | 'server' | 'reply'>>;
      at: number;
    };

/** Why a reset mail is not sent, by the state of its link (recovery decides what the state is). */
const NOT_SENT: Record<MailLinkState, string | null> = {
  open: null,
  missing: 'The reset link of this mail no longer exists.',
  used: 'The reset link was used before this mail went out.',
  revoked: 'The reset link was replaced or voided before this mail went out.',
  expired: 'The reset link expired before this mail could be delivered.',
};

export type OutcomeKind = 'sent' | 'retrying' | 'failed' | 'cancelled';

type DueFilter = (eb: ExpressionBuilder<Database, 'mail_messages'>) => ReturnType<ExpressionBuilder<Database, 'mail_messages'>['or']>;

export class MailWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private stopping = false;
  private unsubscribe: (() => void) | null = null;
  /** The claim each message in hand is held by; dropped when another worker took the message over. */
  private readonly claims = new Map<string, string>();
  private readonly outcomeListeners = new Set<(kind: OutcomeKind) => void>();
  private lastPassAt: number | null = null;
  private lastSweep = 0;
  private gathering: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly outbox: Outbox,
    /** The servers to try, in order; none means the development mailbox. */
    private readonly transports: () => Promise<MailTransport[]>,
    private readonly logger: Logger,
    private readonly options: WorkerOptions,
  ) {}

  private get leaseMs(): number {
    return this.options.leaseMs ?? 120_000;
  }

  /** Told of every message's outcome once it is recorded (for metrics). */
  onOutcome(listener: (kind: OutcomeKind) => void): () => void {
    this.outcomeListeners.add(listener);
    return () => this.outcomeListeners.delete(listener);
  }

  /** Whether this worker is sending mail, and when it last finished looking for due mail. */
  health(): { enabled: boolean; running: boolean; lastPassAt: number | null } {
    return { enabled: this.started, running: this.running !== null, lastPassAt: this.lastPassAt };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.unsubscribe = this.outbox.onEnqueue(() => this.soon());
    this.nudge();
  }

  /** Finishes the messages in hand, then stops; nothing is claimed after this is called. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.gathering) clearTimeout(this.gathering);
    this.timer = null;
    this.gathering = null;
    await this.running;
  }

  /**
   * A new mail is picked up after a few milliseconds rather than at once: under load the mails of many
   * requests then go out in one batch, one transaction, instead of one pass each.
   */
  private soon(): void {
    if (this.gathering || !this.started || this.stopping) return;
    this.gathering = setTimeout(() => {
      this.gathering = null;
      this.nudge();
    }, GATHER_MS);
    this.gathering.unref();
  }

  nudge(): void {
    if (!this.started || this.stopping) return;
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
        this.lastPassAt = this.clock.now();
        if (!this.started || this.stopping) return;
        if (this.again) {
          this.again = false;
          this.nudge();
        } else {
          this.timer = setTimeout(() => this.nudge(), this.options.pollIntervalMs ?? 1000);
          this.timer.unref();
        }
      });
  }

  /** Delivers every message that is due now, after any pass already under way; for tests and the command line. */
  async drain(): Promise<void> {
    await this.running;
    await this.deliverDue();
    await this.running;
  }

  private async deliverDue(): Promise<void> {
    // A failed or cancelled reset mail keeps its sealed token for "Retry" only while its link lives.
    if (this.clock.now() - this.lastSweep >= 60_000) {
      this.lastSweep = this.clock.now();
      const now = this.lastSweep;
      await onOneInstance(this.db, 'forget expired reset tokens', (trx) => this.outbox.forgetExpiredTokens(trx, now));
    }
    while (!this.stopping) {
      const batch = await this.claim();
      if (batch.length === 0) return;
      const renewal = this.renewLeases(batch);
      try {
        const transports = await this.transports();
        const outcomes = await Promise.all(batch.map((message) => this.deliver(message, transports)));
        await this.record(outcomes);
      } finally {
        clearInterval(renewal);
        for (const message of batch) this.claims.delete(message.id);
      }
      // A long backlog must not starve the pages: let waiting requests in between batches.
      await yieldToRequests();
    }
  }

  /**
   * Takes up to a batch of due messages under a new claim. On PostgreSQL, rows another instance is claiming
   * at this moment are skipped rather than waited for; on SQLite the update holds the database's write lock.
   */
  private async claim(): Promise<MailMessagesTable[]> {
    const now = this.clock.now();
    const due: DueFilter = (eb) =>
      eb.or([
        eb.and([eb('status', 'in', ['queued', 'retrying']), eb('next_attempt_at', '<=', now)]),
        // A lease that ran out means a worker died mid-send: the message is due again.
        eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', now)]),
      ]);
    const interrupted = new Set(
      (await this.db.selectFrom('mail_messages').select('id').where('status', '=', 'sending').where('lease_until', '<', now).execute()).map((row) => row.id),
    );
    const claimId = randomToken(12);
    const candidates = forUpdateSkipLocked(
      this.db,
      this.db.selectFrom('mail_messages').select('id').where(due).orderBy('next_attempt_at').limit(this.options.batchSize ?? 50),
    );
    const claimed = await this.db
      .updateTable('mail_messages')
      .set({ status: 'sending', lease_until: now + this.leaseMs, claim_id: claimId })
      .where('id', 'in', candidates)
      .where(due)
      .returningAll()
      .execute();
    for (const message of claimed) {
      this.claims.set(message.id, claimId);
      if (!interrupted.has(message.id)) continue;
      // Claimed again after its lease ran out: it was being sent when its worker stopped. Say so.
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

  /** Keeps the claims alive while a slow server takes its time, so no other worker sends the same mail. */
  private renewLeases(batch: MailMessagesTable[]): NodeJS.Timeout {
    const timer = setInterval(() => {
      for (const message of batch) {
        const claim = this.claims.get(message.id);
        if (claim === undefined) continue;
        void this.db
          .updateTable('mail_messages')
          .set({ lease_until: this.clock.now() + this.leaseMs })
          .where('id', '=', message.id)
          .where('status', '=', 'sending')
          .where('claim_id', '=', claim)
          .executeTakeFirst()
          .then(
            (result) => {
              if (Number(result.numUpdatedRows) !== 1) this.claims.delete(message.id);
            },
            () => undefined,
          );
      }
    }, Math.max(1000, this.leaseMs / 3));
    timer.unref();
    return timer;
  }

  private async deliver(message: MailMessagesTable, transports: MailTransport[]): Promise<Outcome> {
    const skip = await this.reasonNotToSend(message);
    if (skip) return { message, kind: 'cancelled', reason: skip };
    if (message.template === 'reset' && !this.outbox.canReveal(message)) {
      const reply = 'The reset link of this mail can no longer be read (it was wiped, or the installation secret changed): send new instructions.';
      return { message, kind: 'permanent', server: 'none', reply, keepToken: false, nextAt: 0, earlier: [], at: this.clock.now() };
    }
    const rendered = this.outbox.render(message, true);
    if (transports.length === 0) {
      if (this.options.logLinks && message.sealed_token) {
        const link = rendered.text.split('\n').find((line) => line.includes('/reset-password/'));
        this.logger.info({ to: message.to_address, link }, 'development mailbox: reset link');
      }
      return { message, kind: 'sent', server: MAILBOX, reply: 'kept in the development mailbox', keepToken: true, nextAt: 0, earlier: [], at: this.clock.now() };
    }
    // In priority order; a server that cannot be reached hands the message to the next one.
    const earlier: Array<Pick<MailAttemptsTable, 'at' | 'server' | 'reply'>> = [];
    for (const [index, transport] of transports.entries()) {
      const at = this.clock.now();
      try {
        const { reply } = await transport.send({
          from: transport.from ?? this.options.from,
          replyTo: this.options.replyTo ?? undefined,
          to: message.to_address,
          subject: rendered.subject,
          text: rendered.text,
          html: rendered.html,
        });
        return { message, kind: 'sent', server: transport.name, reply, keepToken: false, nextAt: 0, earlier, at };
      } catch (error) {
        const failure = error instanceof DeliveryError ? error : new DeliveryError(String(error), false, false);
        if (failure.connectionLevel && index < transports.length - 1) {
          earlier.push({ at, server: transport.name, reply: `${failure.message} Trying the next server.` });
          continue;
        }
        const nextAt = this.clock.now() + retryDelay(message.attempts + 1);
        const givingUp = failure.permanent || nextAt > message.created_at + this.options.retryHorizonMs;
        return { message, kind: givingUp ? 'permanent' : 'temporary', server: transport.name, reply: failure.message, keepToken: false, nextAt, earlier, at };
      }
    }
    throw new Error('unreachable: the last server always returns an outcome');
  }

  private async reasonNotToSend(message: MailMessagesTable): Promise<string | null> {
    if (!message.reset_link_id) return null;
    return NOT_SENT[await linkStateForMail(this.db, message.reset_link_id, this.clock.now())];
  }

  /**
   * Records a batch's attempts and new states in one transaction. A message's state changes only while
   * this worker still holds the lease it claimed: if another worker took it over, that worker's outcome stands.
   */
  private async record(outcomes: Outcome[]): Promise<void> {
    const worker = { userAgent: 'mail worker' };
    const recorded: OutcomeKind[] = [];
    await this.db.transaction().execute(async (trx) => {
      for (const outcome of outcomes) {
        const { message } = outcome;
        const fence = (query: ReturnType<typeof trx.updateTable<'mail_messages'>>) =>
          query.where('id', '=', message.id).where('status', '=', 'sending').where('claim_id', '=', this.claims.get(message.id) ?? '');
        if (outcome.kind === 'cancelled') {
          const updated = await fence(trx.updateTable('mail_messages').set({ status: 'cancelled', lease_until: null, claim_id: null, last_error: outcome.reason, sealed_token: null })).executeTakeFirst();
          if (Number(updated.numUpdatedRows) === 1) {
            recorded.push('cancelled');
            await recordAudit(trx, this.clock.now(), worker, { type: 'mail.cancelled', userId: message.user_id, email: message.to_address, detail: { message: message.id, reason: outcome.reason } });
          }
          continue;
        }
        for (const attempt of outcome.earlier) {
          await trx.insertInto('mail_attempts').values({ id: newId(), message_id: message.id, outcome: 'temporary', ...attempt }).execute();
        }
        await trx.insertInto('mail_attempts').values({ id: newId(), message_id: message.id, at: outcome.at, server: outcome.server, outcome: outcome.kind, reply: outcome.reply }).execute();
        const common = { attempts: message.attempts + 1, lease_until: null, claim_id: null, transport: outcome.server };
        const change =
          outcome.kind === 'sent'
            ? { ...common, status: 'sent' as const, sent_at: this.clock.now(), last_error: null, ...(outcome.keepToken ? {} : { sealed_token: null }) }
            : outcome.kind === 'temporary'
              ? { ...common, status: 'retrying' as const, next_attempt_at: outcome.nextAt, last_error: outcome.reply }
              : { ...common, status: 'failed' as const, last_error: outcome.reply };
        const updated = await fence(trx.updateTable('mail_messages').set(change)).executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) {
          this.logger.warn({ message: message.id }, 'mail worker lost the lease of a message while sending it');
          continue;
        }
        recorded.push(outcome.kind === 'sent' ? 'sent' : outcome.kind === 'temporary' ? 'retrying' : 'failed');
        await recordAudit(trx, outcome.at, worker, {
          type: outcome.kind === 'sent' ? 'mail.sent' : outcome.kind === 'temporary' ? 'mail.retrying' : 'mail.failed',
          userId: message.user_id,
          email: message.to_address,
          detail: { message: message.id, server: outcome.server, reply: outcome.reply },
        });
      }
    });
    for (const kind of recorded) for (const listener of this.outcomeListeners) listener(kind);
  }
}
