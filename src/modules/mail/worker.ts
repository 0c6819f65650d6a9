// The courier: claims due messages from the outbox with a lease, delivers them, retries with backoff, gives up visibly.
import { randomInt } from 'node:crypto';
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { ExpressionBuilder } from 'kysely';
import { forUpdateSkipLocked, onOneInstance, type Database, type Db, type MailAttemptsTable, type MailMessagesTable } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newOrderedId, randomToken } from '../../infra/crypto.ts';
import type { Logger } from '../../infra/logger.ts';
import { recordAudits, type AuditEntry } from '../audit/audit.ts';
import { linkStatesForMail, type MailLinkState } from '../recovery/reset-links.repo.ts';
import type { Outbox } from './outbox.ts';
import { LINK_PATHS, type MailTemplate } from './templates.ts';
import { DeliveryError, type MailTransport } from './transport.ts';

export interface WorkerOptions {
  from: string;
  replyTo?: string | null;
  /** The envelope sender of a message (its return path, for bounces); none: the From address. */
  returnPath?: ((messageId: string) => string) | null;
  /** How long after a mail was queued the worker keeps retrying it. */
  retryHorizonMs: number;
  /** Print reset links to the log when they land in the development mailbox. */
  logLinks: boolean;
  pollIntervalMs?: number;
  leaseMs?: number;
  batchSize?: number;
  /**
   * Work that turns into mail, done before a claim when it is due: the self-service reset requests waiting
   * to be acted on (recovery). Returns how much it took (0 when nothing waits).
   */
  intake?: () => Promise<number>;
  /** The most one intake takes: a full one means more may be waiting. */
  intakeBatch?: number;
}

/** The development mailbox: with no SMTP server, mail is kept in the database and read on the Mail Queue page. */
export const MAILBOX = 'development mailbox';

const GATHER_MS = 10;
/**
 * A reset request is acted on at a random moment between these bounds after it was answered (or at the next
 * pass, if one comes first). The courier's work for a known address (link, mail, sending) is larger than for an
 * unknown one; at a fixed delay a stranger's second request would meet it and learn the answer from its own
 * timing. At a random moment there is no fixed delay to aim at.
 */
const REQUEST_DELAY_MS = { min: 50, max: 1000 } as const;
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
  private pendingRequests: NodeJS.Timeout | null = null;
  /** Whether the next round of a pass takes in waiting requests; requests noticed here since the last intake. */
  private intakeDue = true;
  private requestsNoticed = 0;

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

  private get batchSize(): number {
    return this.options.batchSize ?? 50;
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
    this.unsubscribe = this.outbox.onEnqueue((cause) => (cause === 'request' ? this.requestNoticed() : this.soon()));
    // Requests answered before a restart, or by another instance, wait too.
    this.intakeDue = true;
    this.nudge();
  }

  /** Finishes the messages in hand, then stops; nothing is claimed after this is called. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.gathering) clearTimeout(this.gathering);
    if (this.pendingRequests) clearTimeout(this.pendingRequests);
    this.timer = null;
    this.gathering = null;
    this.pendingRequests = null;
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

  /**
   * Reset requests wait for an intake at a random moment (REQUEST_DELAY_MS); those that come meanwhile join it.
   * A full batch's worth is taken at once: under load the courier acts on requests a batch per transaction
   * instead of a few per pass — every commit rewrites the pages of the indexes it touched, so small
   * transactions cost the write-ahead log (and its checkpoints) many times more.
   */
  private requestNoticed(): void {
    if (++this.requestsNoticed >= (this.options.intakeBatch ?? 50)) {
      this.intakeDue = true;
      this.nudge();
      return;
    }
    if (this.pendingRequests || !this.started || this.stopping) return;
    this.pendingRequests = setTimeout(() => {
      this.pendingRequests = null;
      this.intakeDue = true;
      this.nudge();
    }, randomInt(REQUEST_DELAY_MS.min, REQUEST_DELAY_MS.max + 1));
    this.pendingRequests.unref();
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
          this.timer = setTimeout(() => {
            // The periodic pass also takes in requests other instances answered (those without a mail worker).
            this.intakeDue = true;
            this.nudge();
          }, this.options.pollIntervalMs ?? 1000);
          this.timer.unref();
        }
      });
  }

  /** Delivers every message that is due now, after any pass already under way; for tests and the command line. */
  async drain(): Promise<void> {
    await this.running;
    this.intakeDue = true;
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
    // At most two batches in hand: the next one is claimed while the one before is still being sent, so the
    // SMTP connections do not sit idle through the claim's and the record's round trips to the database.
    let previous: Promise<void> | null = null;
    let current: Promise<void> | null = null;
    try {
      while (!this.stopping) {
        const taken = this.intakeDue ? await this.takeIn() : 0;
        const { claimId, batch } = await this.claim();
        if (batch.length === 0) {
          if (taken > 0 && this.intakeDue) continue;
          break;
        }
        current = this.sendBatch(claimId, batch);
        // Its failure is reported where it is awaited; until then it must not count as unhandled.
        current.catch(() => undefined);
        if (previous) await previous;
        previous = current;
        current = null;
        // A short batch emptied the queue: finish it before claiming again, so that the next claim gathers
        // the mail that arrives meanwhile instead of running ahead with one or two (each claim costs commits).
        if (batch.length < this.batchSize) {
          await previous;
          previous = null;
        }
        // A long backlog must not starve the pages: let waiting requests in between batches.
        await yieldToRequests();
      }
      if (previous) await previous;
    } finally {
      // Whatever went wrong, the mail in hand is sent and recorded before the pass ends (and stop() returns).
      await Promise.allSettled([previous, current]);
    }
  }

  /** Takes in the waiting requests; after a full batch, the next round takes in more. */
  private async takeIn(): Promise<number> {
    this.intakeDue = false;
    this.requestsNoticed = 0;
    if (!this.options.intake) return 0;
    const taken = await this.options.intake();
    if (taken >= (this.options.intakeBatch ?? 50)) this.intakeDue = true;
    return taken;
  }

  /** Sends one claimed batch and records its outcomes; the leases are renewed until then. */
  private async sendBatch(claimId: string, batch: MailMessagesTable[]): Promise<void> {
    const renewal = this.renewLeases(claimId, batch);
    try {
      const transports = await this.transports();
      const links = await linkStatesForMail(this.db, batch.flatMap((message) => (message.reset_link_id ? [message.reset_link_id] : [])), this.clock.now());
      const outcomes = await Promise.all(batch.map((message) => this.deliver(message, transports, links)));
      await this.record(claimId, outcomes);
    } finally {
      clearInterval(renewal);
      for (const message of batch) this.claims.delete(message.id);
    }
  }

  /**
   * Takes up to a batch of due messages under a new claim. On PostgreSQL, rows another instance is claiming
   * at this moment are skipped rather than waited for; on SQLite the update holds the database's write lock.
   */
  private async claim(): Promise<{ claimId: string; batch: MailMessagesTable[] }> {
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
    // Chosen and locked first, then updated by id, in one transaction: an UPDATE … WHERE id IN (SELECT … LIMIT …
    // FOR UPDATE SKIP LOCKED) may run its subquery more than once on PostgreSQL and claim more than a batch.
    const claimed = await this.db.transaction().execute(async (trx) => {
      const ids = (await forUpdateSkipLocked(trx, trx.selectFrom('mail_messages').select('id').where(due).orderBy('next_attempt_at').limit(this.batchSize)).execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      return trx.updateTable('mail_messages').set({ status: 'sending', lease_until: now + this.leaseMs, claim_id: claimId }).where('id', 'in', ids).where(due).returningAll().execute();
    });
    for (const message of claimed) this.claims.set(message.id, claimId);
    // Claimed again after its lease ran out: it was being sent when its worker stopped. Say so.
    const again = claimed.filter((message) => interrupted.has(message.id));
    if (again.length > 0) {
      await this.db
        .insertInto('mail_attempts')
        .values(
          again.map((message) => ({
            id: newOrderedId(),
            message_id: message.id,
            at: now,
            server: 'unknown',
            outcome: 'temporary' as const,
            reply: 'The previous attempt was interrupted (Latchkey stopped while sending); the mail may have been delivered once already.',
          })),
        )
        .execute();
    }
    return { claimId, batch: claimed };
  }

  /** Keeps the claims alive while a slow server takes its time, so no other worker sends the same mail. */
  private renewLeases(claimId: string, batch: MailMessagesTable[]): NodeJS.Timeout {
    const timer = setInterval(() => {
      const held = batch.filter((message) => this.claims.get(message.id) === claimId).map((message) => message.id);
      if (held.length === 0) return;
      void this.db
        .updateTable('mail_messages')
        .set({ lease_until: this.clock.now() + this.leaseMs })
        .where('id', 'in', held)
        .where('status', '=', 'sending')
        .where('claim_id', '=', claimId)
        .returning('id')
        .execute()
        .then(
          (renewed) => {
            // A message whose lease could not be renewed was taken over by another worker: its outcome is not ours to write.
            const still = new Set(renewed.map((row) => row.id));
            for (const id of held) if (!still.has(id)) this.claims.delete(id);
          },
          () => undefined,
        );
    }, Math.max(1000, this.leaseMs / 3));
    timer.unref();
    return timer;
  }

  private async deliver(message: MailMessagesTable, transports: MailTransport[], links: Map<string, MailLinkState>): Promise<Outcome> {
    const skip = message.reset_link_id ? NOT_SENT[links.get(message.reset_link_id) ?? 'missing'] : null;
    if (skip) return { message, kind: 'cancelled', reason: skip };
    if (LINK_PATHS[message.template as MailTemplate['template']] && !this.outbox.canReveal(message)) {
      const reply = 'The reset link of this mail can no longer be read (it was wiped, or the installation secret changed): send new instructions.';
      return { message, kind: 'permanent', server: 'none', reply, keepToken: false, nextAt: 0, earlier: [], at: this.clock.now() };
    }
    const rendered = this.outbox.render(message, true);
    if (transports.length === 0) {
      if (this.options.logLinks && message.sealed_token) {
        const path = `/${LINK_PATHS[message.template as MailTemplate['template']] ?? LINK_PATHS.reset}/`;
        const link = rendered.text.split('\n').find((line) => line.includes(path));
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
          ...(this.options.returnPath ? { envelope: { from: this.options.returnPath(message.id), to: message.to_address } } : {}),
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

  /**
   * Records a batch's attempts and new states in one transaction, in a handful of statements whatever the
   * batch's size. A message's state changes only while this worker's claim still holds it: if another
   * worker took it over, that worker's outcome stands.
   */
  private async record(claimId: string, outcomes: Outcome[]): Promise<void> {
    const worker = { userAgent: 'mail worker' };
    const now = this.clock.now();
    const recorded: OutcomeKind[] = [];
    await this.db.transaction().execute(async (trx) => {
      // The fence: rows whose claim another worker has taken over do not change.
      const fenced = (ids: string[]) =>
        trx.updateTable('mail_messages').where('id', 'in', ids).where('status', '=', 'sending').where('claim_id', '=', claimId);
      const changed = new Set<string>();
      const note = (rows: Array<{ id: string }>) => rows.forEach((row) => changed.add(row.id));

      // Sent: one update per server (and per whether the development mailbox keeps the link).
      const sent = outcomes.filter((outcome): outcome is Exclude<Outcome, { kind: 'cancelled' }> => outcome.kind === 'sent');
      for (const group of groupBy(sent, (outcome) => `${outcome.server}\n${outcome.keepToken}`)) {
        const { server, keepToken } = group[0]!;
        note(
          await fenced(group.map((outcome) => outcome.message.id))
            .set((eb) => ({
              status: 'sent' as const,
              sent_at: now,
              attempts: eb('attempts', '+', 1),
              lease_until: null,
              claim_id: null,
              transport: server,
              last_error: null,
              ...(keepToken ? {} : { sealed_token: null }),
            }))
            .returning('id')
            .execute(),
        );
      }
      // Cancelled, retrying and failed: rare, each with its own reason, one update each.
      for (const outcome of outcomes) {
        if (outcome.kind === 'sent') continue;
        const { message } = outcome;
        const change =
          outcome.kind === 'cancelled'
            ? { status: 'cancelled' as const, lease_until: null, claim_id: null, last_error: outcome.reason, sealed_token: null }
            : {
                attempts: message.attempts + 1,
                lease_until: null,
                claim_id: null,
                transport: outcome.server,
                last_error: outcome.reply,
                ...(outcome.kind === 'temporary' ? { status: 'retrying' as const, next_attempt_at: outcome.nextAt } : { status: 'failed' as const }),
              };
        note(await fenced([message.id]).set(change).returning('id').execute());
      }

      // Every attempt made is a fact, kept even where another worker's outcome stands.
      const attempts = outcomes.flatMap((outcome) =>
        outcome.kind === 'cancelled'
          ? []
          : [
              ...outcome.earlier.map((attempt) => ({ id: newOrderedId(), message_id: outcome.message.id, outcome: 'temporary' as const, ...attempt })),
              { id: newOrderedId(), message_id: outcome.message.id, at: outcome.at, server: outcome.server, outcome: outcome.kind, reply: outcome.reply },
            ],
      );
      if (attempts.length > 0) await trx.insertInto('mail_attempts').values(attempts).execute();

      const events: Array<AuditEntry & { at: number }> = [];
      for (const outcome of outcomes) {
        const { message } = outcome;
        if (!changed.has(message.id)) {
          this.logger.warn({ message: message.id }, 'mail worker lost the lease of a message while sending it');
          continue;
        }
        const kind: OutcomeKind = outcome.kind === 'cancelled' ? 'cancelled' : outcome.kind === 'sent' ? 'sent' : outcome.kind === 'temporary' ? 'retrying' : 'failed';
        recorded.push(kind);
        events.push(
          outcome.kind === 'cancelled'
            ? { at: now, type: 'mail.cancelled', userId: message.user_id, email: message.to_address, detail: { message: message.id, reason: outcome.reason } }
            : {
                at: outcome.at,
                type: `mail.${kind}` as AuditEntry['type'],
                userId: message.user_id,
                email: message.to_address,
                detail: { message: message.id, server: outcome.server, reply: outcome.reply },
              },
        );
      }
      await recordAudits(trx, worker, events);
    });
    for (const kind of recorded) for (const listener of this.outcomeListeners) listener(kind);
  }
}

function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return [...groups.values()];
}
