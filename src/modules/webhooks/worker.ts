// The webhook worker: reads new events into deliveries, claims due deliveries with a lease, sends them, retries with backoff, gives up visibly.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newOrderedId, randomToken, type SecretBox } from '../../infra/crypto.ts';
import type { Logger } from '../../infra/logger.ts';
import { Dispatcher } from './dispatcher.ts';
import { signedHeaders, WebhookSender, type AttemptResult } from './sender.ts';
import { claimDueDeliveries, insertAttempts, listSubscriptionRows, recordOutcome, type DeliveryRow } from './webhooks.repo.ts';

export interface WebhookWorkerOptions {
  /** How long one attempt may take. */
  timeoutMs: number;
  /** How long after an event its delivery is retried before it is marked failed. */
  retryHorizonMs: number;
  allowPrivate: boolean;
  pollIntervalMs?: number;
}

const BATCH = 10;
const BASE_DELAY_MS = 10_000;
const MAX_DELAY_MS = 60 * 60_000;

/** Exponential backoff with jitter: between half and all of 10 s, 20 s, 40 s, … up to an hour. */
export function webhookRetryDelay(attempts: number, random = Math.random): number {
  const step = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

const INTERRUPTED = 'Interrupted: Latchkey stopped during this attempt; the receiver may have got this delivery once already.';

export class WebhookWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  private stopping = false;
  private readonly dispatcher: Dispatcher;
  private readonly sender: WebhookSender;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Opens the subscriptions' sealed signing secrets. */
    private readonly box: SecretBox,
    private readonly logger: Logger,
    private readonly options: WebhookWorkerOptions,
  ) {
    this.dispatcher = new Dispatcher(db, clock);
    this.sender = new WebhookSender({ timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate });
  }

  /** Long enough for an attempt (its connection and its answer) to end before another worker may take the delivery over. */
  private get leaseMs(): number {
    return 2 * this.options.timeoutMs + 5_000;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.schedule(0);
  }

  /** Finishes the deliveries in hand, then stops; nothing is claimed after this is called. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Closes the HTTP connections; after stop(). */
  async close(): Promise<void> {
    await this.stop();
    await this.sender.close();
  }

  /** Reads new events and makes every delivery due now, after any pass under way; for tests. */
  async drain(): Promise<void> {
    await this.running;
    this.running = this.pass();
    try {
      await this.running;
    } finally {
      this.running = null;
    }
  }

  private schedule(delayMs: number): void {
    if (!this.started || this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.running || !this.started || this.stopping) return this.schedule(this.options.pollIntervalMs ?? 1000);
      this.running = this.pass()
        .catch((error: unknown) => this.logger.error({ err: error }, 'webhook worker pass failed'))
        .finally(() => {
          this.running = null;
          this.schedule(this.options.pollIntervalMs ?? 1000);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    await this.dispatcher.dispatch();
    while (!this.stopping) {
      const claimId = randomToken(12);
      const now = this.clock.now();
      const { claimed, interrupted } = await claimDueDeliveries(this.db, claimId, now, this.leaseMs, BATCH);
      if (claimed.length === 0) break;
      // Claimed again after its lease ran out: its worker died mid-attempt. The page says so.
      await insertAttempts(
        this.db,
        claimed.filter((delivery) => interrupted.has(delivery.id)).map((delivery) => ({ id: newOrderedId(), delivery_id: delivery.id, at: now, status_code: null, error: INTERRUPTED, duration_ms: 0 })),
      );
      const subscriptions = new Map((await listSubscriptionRows(this.db)).map((row) => [row.id, row]));
      await Promise.all(
        claimed.map(async (delivery) => {
          const subscription = subscriptions.get(delivery.subscription_id);
          const secret = subscription ? this.box.open(subscription.secret_sealed) : null;
          const at = this.clock.now();
          const result: AttemptResult =
            !subscription || secret === null
              ? { ok: false, statusCode: null, error: 'The signing secret can no longer be read (the installation secret changed): rotate it.', durationMs: 0 }
              : await this.sender.send(subscription.url, signedHeaders(secret, `msg_${delivery.id}`, at, delivery.payload), delivery.payload);
          await this.record(claimId, delivery, at, result, secret !== null);
        }),
      );
    }
  }

  /** An attempt and the delivery's new state in one transaction; the state changes only while this claim holds it. */
  private async record(claimId: string, delivery: DeliveryRow, at: number, result: AttemptResult, retryable: boolean): Promise<void> {
    const attempts = delivery.attempts + 1;
    const nextAt = this.clock.now() + webhookRetryDelay(attempts);
    const givingUp = !retryable || nextAt > delivery.created_at + this.options.retryHorizonMs;
    const held = await this.db.transaction().execute(async (trx) => {
      await insertAttempts(trx, [{ id: newOrderedId(), delivery_id: delivery.id, at, status_code: result.statusCode, error: result.error, duration_ms: result.durationMs }]);
      return recordOutcome(
        trx,
        delivery.id,
        claimId,
        result.ok
          ? { status: 'delivered', attempts, next_attempt_at: delivery.next_attempt_at, delivered_at: at, last_error: null }
          : { status: givingUp ? 'failed' : 'retrying', attempts, next_attempt_at: givingUp ? delivery.next_attempt_at : nextAt, delivered_at: null, last_error: result.error },
      );
    });
    if (!held) this.logger.warn({ delivery: delivery.id }, 'webhook worker lost the lease of a delivery while sending it');
  }
}
