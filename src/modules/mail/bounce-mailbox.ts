// The bounce mailbox: polls an IMAP mailbox (imapflow) that receives the bounce domain's mail, records each message, deletes it.
import { ImapFlow } from 'imapflow';
import type { Clock } from '../../infra/clock.ts';
import type { Logger } from '../../infra/logger.ts';
import type { Bounces } from './bounces.service.ts';

export interface BounceMailboxSettings {
  host: string;
  port: number;
  /** TLS from the start (imaps://); else STARTTLS, required except on a loopback address. */
  secure: boolean;
  requireStartTls: boolean;
  user: string;
  password: string;
  mailbox: string;
  intervalMs: number;
}

/** Messages read in one poll; the rest wait for the next. */
const POLL_BATCH = 200;

export class BounceMailbox {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  private lastPollAt: number | null = null;

  constructor(
    private readonly bounces: Bounces,
    private readonly settings: BounceMailboxSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  health(): { enabled: boolean; lastPollAt: number | null } {
    return { enabled: this.started, lastPollAt: this.lastPollAt };
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .then(
          () => undefined,
          (error: unknown) => this.logger.warn({ err: error }, 'bounce mailbox: poll failed'),
        )
        .finally(() => {
          this.running = null;
          if (this.started) this.schedule(this.settings.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /**
   * Reads up to a batch of messages, records each (once, whichever instance reads it: recording is idempotent) and
   * deletes those recorded; one that could not be recorded stays for the next poll. Returns how many were recorded.
   */
  async poll(): Promise<number> {
    const s = this.settings;
    const client = new ImapFlow({
      host: s.host,
      port: s.port,
      secure: s.secure,
      ...(s.secure ? {} : { doSTARTTLS: s.requireStartTls ? true : undefined }),
      auth: { user: s.user, pass: s.password },
      logger: false,
    });
    client.on('error', (error: unknown) => this.logger.warn({ err: error }, 'bounce mailbox: connection error'));
    await client.connect();
    let done = 0;
    try {
      const lock = await client.getMailboxLock(s.mailbox);
      try {
        const status = client.mailbox;
        if (!status || status.exists === 0) return 0;
        const messages = await client.fetchAll(`1:${Math.min(status.exists, POLL_BATCH)}`, { uid: true, source: true });
        const recorded: number[] = [];
        for (const message of messages) {
          if (!message.source) continue;
          try {
            await this.bounces.receive(message.source, [], { ip: null, userAgent: 'bounce mailbox' });
            recorded.push(message.uid);
          } catch (error) {
            this.logger.error({ err: error }, 'bounce mailbox: a bounce could not be recorded; it stays for the next poll');
          }
        }
        if (recorded.length > 0) await client.messageDelete(recorded.join(','), { uid: true });
        done = recorded.length;
      } finally {
        lock.release();
      }
    } finally {
      this.lastPollAt = this.clock.now();
      await client.logout().catch(() => client.close());
    }
    return done;
  }
}
