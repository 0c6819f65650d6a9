// Retention: removes what has outlived its use — expired sessions, dead reset links, finished mail, old audit events,
// and the OpenID Connect provider's expired codes, tokens, grants and sessions — on one instance at a time, in
// small transactions with room for requests between them, and audits what it removed.
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { onOneInstanceInSteps, type Db, type Tx } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import type { Logger } from '../../infra/logger.ts';
import { deleteIdempotentAnswersBefore } from '../apikeys/apikeys.repo.ts';
import { IDEMPOTENCY_TTL_MS } from '../apikeys/apikeys.service.ts';
import { ANONYMOUS_TYPES, recordAudit, type Actor } from '../audit/audit.ts';
import { deleteAnonymousEventsBefore, deleteAuditEventsBefore } from '../audit/audit.repo.ts';
import { deleteFinishedMailBefore } from '../mail/outbox.ts';
import { deleteModelsExpiredBefore } from '../oidc/oidc.repo.ts';
import { deleteLinksExpiredBefore } from '../recovery/reset-links.repo.ts';
import { deleteSessionsExpiredBefore } from '../sessions/sessions.repo.ts';
import { deleteFinishedDeliveriesBefore } from '../webhooks/webhooks.repo.ts';

export interface RetentionSettings {
  /** Days each kind of record is kept; 0 keeps it for ever. */
  auditDays: number;
  /** Events of nobody's account (ANONYMOUS_TYPES); the shorter of this and auditDays applies. */
  anonymousDays: number;
  /** Finished mail (sent, failed, cancelled), counted from when it was queued, with its delivery attempts. */
  mailDays: number;
  /** Reset links, counted from their expiry. */
  linksDays: number;
  /** Seconds between two cleanups; 0: this instance does not clean (another one does). */
  intervalSeconds: number;
  /** Rows per transaction. */
  batchSize?: number;
}

/** What one cleanup removed. */
export interface Removed {
  sessions: number;
  resetLinks: number;
  mailMessages: number;
  mailAttempts: number;
  auditEvents: number;
  anonymousEvents: number;
  /** The OpenID Connect provider's expired artifacts (codes, tokens, grants, sessions, interactions). */
  oidcArtifacts: number;
  /** Answers kept for API retries with an Idempotency-Key, past their day. */
  apiAnswers: number;
  /** Webhook deliveries finished (delivered or failed) longer ago than the mail's retention, with their attempts. */
  webhookDeliveries: number;
  /** Transactions it took, each of at most one batch of rows. */
  batches: number;
}

const DAY_MS = 86_400_000;
/** Small enough that one batch holds SQLite's write lock for a few milliseconds. */
const BATCH = 500;
/** The first cleanup comes soon after start, so instances restarted more often than the interval still clean. */
const FIRST_AFTER_MS = 60_000;
const RETENTION: Actor = { userAgent: 'latchkey retention' };

export class Retention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<Removed | null> | null = null;
  private stopping = false;
  private readonly batchSize: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: RetentionSettings,
  ) {
    this.batchSize = settings.batchSize ?? BATCH;
  }

  /** Cleans now and then (every intervalSeconds), unless this instance is set not to. */
  start(): void {
    if (this.settings.intervalSeconds === 0 || this.timer) return;
    this.stopping = false;
    this.schedule(Math.min(FIRST_AFTER_MS, this.settings.intervalSeconds * 1000));
  }

  /** No new cleanup starts; one under way stops after its current batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /**
   * Removes every record past its retention, a batch per transaction, and records one audit event with the
   * counts when anything went. Returns the counts, or null when another instance was cleaning at the time.
   */
  cleanUp(): Promise<Removed | null> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.cleanUp()
        .catch((error: unknown) => this.logger.error({ err: error }, 'retention cleanup failed'))
        .finally(() => {
          if (!this.stopping) this.schedule(this.settings.intervalSeconds * 1000);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<Removed | null> {
    const { auditDays, anonymousDays, mailDays, linksDays } = this.settings;
    const now = this.clock.now();
    const removed: Removed = { sessions: 0, resetLinks: 0, mailMessages: 0, mailAttempts: 0, auditEvents: 0, anonymousEvents: 0, oidcArtifacts: 0, apiAnswers: 0, webhookDeliveries: 0, batches: 0 };
    const ran = await onOneInstanceInSteps(this.db, 'retention', async (db) => {
      /** Runs `remove` a batch per transaction until a batch comes back short, letting waiting requests in between. */
      const inBatches = async (remove: (trx: Tx, limit: number) => Promise<number>): Promise<number> => {
        let total = 0;
        while (!this.stopping) {
          const count = await db.transaction().execute((trx) => remove(trx, this.batchSize));
          removed.batches++;
          total += count;
          if (count < this.batchSize) break;
          await yieldToRequests();
        }
        return total;
      };
      // A session past its expiry can never be used again: it goes at once.
      removed.sessions = await inBatches((trx, limit) => deleteSessionsExpiredBefore(trx, now, limit));
      // So does the provider's: it never reads an expired code, token, grant or session again (see oidc.repo.ts findModel).
      removed.oidcArtifacts = await inBatches((trx, limit) => deleteModelsExpiredBefore(trx, now, limit));
      removed.apiAnswers = await inBatches((trx, limit) => deleteIdempotentAnswersBefore(trx, now - IDEMPOTENCY_TTL_MS, limit));
      // Mail before links: a deleted link sets the reset_link_id of each of its mails still there to null.
      if (mailDays > 0) {
        removed.mailMessages = await inBatches(async (trx, limit) => {
          const { messages, attempts } = await deleteFinishedMailBefore(trx, now - mailDays * DAY_MS, limit);
          removed.mailAttempts += attempts;
          return messages;
        });
      }
      if (mailDays > 0) {
        removed.webhookDeliveries = await inBatches(async (trx, limit) => (await deleteFinishedDeliveriesBefore(trx, now - mailDays * DAY_MS, limit)).deliveries);
      }
      if (linksDays > 0) removed.resetLinks = await inBatches((trx, limit) => deleteLinksExpiredBefore(trx, now - linksDays * DAY_MS, limit));
      if (anonymousDays > 0 && (auditDays === 0 || anonymousDays < auditDays)) {
        removed.anonymousEvents = await inBatches((trx, limit) => deleteAnonymousEventsBefore(trx, ANONYMOUS_TYPES, now - anonymousDays * DAY_MS, limit));
      }
      if (auditDays > 0) removed.auditEvents = await inBatches((trx, limit) => deleteAuditEventsBefore(trx, now - auditDays * DAY_MS, limit));
      const { sessions, resetLinks, mailMessages, auditEvents, anonymousEvents, oidcArtifacts, apiAnswers, webhookDeliveries } = removed;
      if (sessions + resetLinks + mailMessages + auditEvents + anonymousEvents + oidcArtifacts + apiAnswers + webhookDeliveries > 0) {
        await recordAudit(db, this.clock.now(), RETENTION, { type: 'retention.cleaned', detail: { ...removed } });
        this.logger.info({ removed }, 'removed records past their retention');
      }
    });
    return ran ? removed : null;
  }
}
