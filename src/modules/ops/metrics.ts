// What Prometheus scrapes from /metrics: requests by route, the reset and login flows, the mail queue, the process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../../infra/logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { MailWorker, OutcomeKind } from '../mail/worker.ts';
import type { BounceOutcome, Bounces } from '../mail/bounces.service.ts';

/** An answered request, as the HTTP layer saw it: the route pattern (never the raw URL, which may hold a token). */
export interface AnsweredRequest {
  method: string;
  route: string;
  status: number;
  seconds: number;
}

/** The label for requests no route matched: one series for every unknown URL, however many there are. */
export const UNMATCHED_ROUTE = 'unmatched';

export class OpsMetrics {
  /** A registry per app, not prom-client's global one: tests build several apps in one process. */
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route'>;
  private readonly resetRequests: Counter;
  private readonly resetLinks: Counter<'outcome'>;
  private readonly logins: Counter<'outcome'>;
  private readonly mails: Counter<'outcome'>;
  private readonly bounces: Counter<'outcome'>;
  private readonly stopListening: () => void;
  private readonly stopBounces: () => void;

  constructor(worker: Pick<MailWorker, 'onOutcome'>, outbox: Pick<Outbox, 'stats'>, logger: Logger, bounces?: Pick<Bounces, 'onOutcome'>) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'latchkey_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'latchkey_http_request_duration_seconds',
      help: 'Time from request to answer, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.resetRequests = new Counter({
      name: 'latchkey_reset_requests_total',
      help: 'Password reset requests accepted by the reset request page (known and unknown addresses alike).',
      registers,
    });
    this.resetLinks = new Counter({
      name: 'latchkey_reset_links_total',
      help: 'New passwords submitted from a reset link: used (password changed) or refused (link unusable, or password refused).',
      labelNames: ['outcome'],
      registers,
    });
    this.logins = new Counter({
      name: 'latchkey_logins_total',
      help: 'Login attempts: ok or failed.',
      labelNames: ['outcome'],
      registers,
    });
    this.mails = new Counter({
      name: 'latchkey_mails_total',
      help: "Outcomes of this instance's mail worker: sent, retrying (will try again), failed (gave up), cancelled.",
      labelNames: ['outcome'],
      registers,
    });
    this.bounces = new Counter({
      name: 'latchkey_mail_bounces_total',
      help: "Inbound mail this instance's bounce listener or mailbox read: bounced (a message marked Bounced), duplicate (recorded before), ignored (not a valid hard bounce).",
      labelNames: ['outcome'],
      registers,
    });
    // Series that exist from the start read 0 rather than missing, so rate() and alerts work from the first scrape.
    for (const outcome of ['used', 'refused']) this.resetLinks.inc({ outcome }, 0);
    for (const outcome of ['ok', 'failed']) this.logins.inc({ outcome }, 0);
    for (const outcome of ['sent', 'retrying', 'failed', 'cancelled'] satisfies OutcomeKind[]) this.mails.inc({ outcome }, 0);
    for (const outcome of ['bounced', 'duplicate', 'ignored'] satisfies BounceOutcome[]) this.bounces.inc({ outcome }, 0);

    // Both gauges come from one query per scrape (prom-client collects every metric at the same time).
    let reading: Promise<{ depth: number; oldestDueAgeSeconds: number } | null> | null = null;
    const readQueue = () =>
      (reading ??= outbox
        .stats()
        .catch((error: unknown) => {
          logger.warn({ err: error }, 'metrics: the mail queue could not be read');
          return null;
        })
        .finally(() => (reading = null)));
    new Gauge({
      name: 'latchkey_mail_queue_depth',
      help: 'Mails waiting to be sent or being sent (queued, retrying, sending); the same on every instance of one database.',
      registers,
      async collect() {
        this.set((await readQueue())?.depth ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'latchkey_mail_oldest_due_age_seconds',
      help: 'How long the oldest mail that is due has been waiting, in seconds; 0 when none is due.',
      registers,
      async collect() {
        this.set((await readQueue())?.oldestDueAgeSeconds ?? Number.NaN);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    this.stopListening = worker.onOutcome((outcome) => this.mails.inc({ outcome }));
    this.stopBounces = bounces?.onOutcome((outcome) => this.bounces.inc({ outcome })) ?? (() => undefined);
  }

  /** Counts one answered request, and what it meant for the reset and login flows (read from route and status). */
  observe({ method, route, status, seconds }: AnsweredRequest): void {
    this.requests.inc({ method, route, status: String(status) });
    this.duration.observe({ method, route }, seconds);
    if (method !== 'POST') return;
    const redirected = status >= 300 && status < 400;
    const refused = status >= 400 && status < 500;
    if (route === '/reset-password' && status === 200) this.resetRequests.inc();
    if (route === '/reset-password/new' && (redirected || refused)) this.resetLinks.inc({ outcome: redirected ? 'used' : 'refused' });
    if (route === '/login' && (redirected || refused)) this.logins.inc({ outcome: redirected ? 'ok' : 'failed' });
  }

  /** The text Prometheus reads. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.stopListening();
    this.stopBounces();
    this.registry.clear();
  }
}
