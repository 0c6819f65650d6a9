// Bounces: a delivery status notification that names a message through its return path marks the message "Bounced"
// and its address "Undeliverable"; anything else is refused with an audit entry. Nothing else in it is trusted.
import type { Clock } from '../../infra/clock.ts';
import type { Db, Executor } from '../../infra/db.ts';
import type { Logger } from '../../infra/logger.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { readDsn } from './dsn.ts';
import { clearUndeliverable, linkWasMailed, lockMessage, markBounced, markUndeliverable, undeliverableMarks, type UndeliverableMark } from './bounces.repo.ts';
import type { ReturnPaths } from './return-path.ts';

/** The most of one inbound message that is read; a DSN with the original's headers is a few kilobytes. */
export const MAX_BOUNCE_BYTES = 1024 * 1024;

export type BounceOutcome = 'bounced' | 'duplicate' | 'ignored';

export { linkWasMailed, undeliverableMarks, type UndeliverableMark };

/**
 * A mailbox was proven to work (a reset link from it was used; an address confirmation may call this too): its
 * "Undeliverable" mark goes, with an audit entry, in the caller's transaction.
 */
export async function markDeliverable(db: Executor, at: number, actor: Actor, who: { email: string; userId: string | null }, how: string): Promise<void> {
  if (await clearUndeliverable(db, who.email)) {
    await recordAudit(db, at, actor, { type: 'mail.address_deliverable', userId: who.userId, email: who.email, detail: { how } });
  }
}

export class Bounces {
  private readonly listeners = new Set<(outcome: BounceOutcome) => void>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Null when no bounce domain is set: mail goes out without a per-message return path. */
    readonly returnPaths: ReturnPaths | null,
    private readonly logger: Logger,
  ) {}

  /** The "Undeliverable" mark of an address, if a hard bounce set one. */
  async markOf(email: string): Promise<UndeliverableMark | null> {
    return (await undeliverableMarks(this.db, [email])).get(email) ?? null;
  }

  /** Told of every inbound message's outcome (for metrics). */
  onOutcome(listener: (outcome: BounceOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * One inbound message. `recipients` are the envelope's (the listener); without them (the bounce mailbox) the
   * addresses its headers say it was delivered to are used. Only the message id of a return path whose tag
   * verifies is believed; the report says whether it is a hard bounce and in which words.
   */
  async receive(raw: Buffer, recipients: string[], actor: Actor): Promise<BounceOutcome> {
    const outcome = await this.record(raw, recipients, actor);
    for (const listener of this.listeners) listener(outcome);
    return outcome;
  }

  private async record(raw: Buffer, recipients: string[], actor: Actor): Promise<BounceOutcome> {
    const paths = this.returnPaths;
    if (!paths) return this.ignore(actor, 'no bounce domain is set (LATCHKEY_BOUNCE_DOMAIN)');
    if (raw.length > MAX_BOUNCE_BYTES) return this.ignore(actor, `larger than ${MAX_BOUNCE_BYTES} bytes`);
    const reading = await readDsn(raw);
    const candidates = (recipients.length > 0 ? recipients : reading.addresses).filter((address) => paths.isOurs(address));
    if (candidates.length === 0) return this.ignore(actor, 'not addressed to a return path of Latchkey');
    const messageId = candidates.map((address) => paths.messageIdOf(address)).find((id) => id !== null);
    if (!messageId) return this.ignore(actor, 'the return path does not verify (forged or altered)');
    if (!reading.ok) return this.ignore(actor, reading.reason, messageId);
    const { report } = reading;
    if (!report.hard) return this.ignore(actor, `not a hard bounce (Action: ${report.action}, Status: ${report.status})`, messageId);

    const now = this.clock.now();
    const outcome = await this.db.transaction().execute(async (trx): Promise<BounceOutcome | 'missing'> => {
      const message = await lockMessage(trx, messageId);
      if (!message) return 'missing';
      // The status leads, unless the server's own words already carry it ("550 5.1.1 …").
      const words = (report.words.includes(report.status) ? report.words : `${report.status} ${report.words}`).slice(0, 500);
      if (!(await markBounced(trx, message.id, words, report.reportedBy, now))) return 'duplicate';
      const email = message.to_address.trim().toLowerCase();
      await markUndeliverable(trx, { email, message_id: message.id, reason: words, marked_at: now });
      await recordAudit(trx, now, actor, {
        type: 'mail.bounced',
        userId: message.user_id,
        email,
        detail: { message: message.id, status: report.status, reply: report.words, reportedBy: report.reportedBy },
      });
      return 'bounced';
    });
    if (outcome === 'missing') return this.ignore(actor, 'the message it names is no longer in the mail queue', messageId);
    if (outcome === 'bounced') this.logger.info({ message: messageId, status: report.status }, 'hard bounce recorded');
    return outcome;
  }

  private async ignore(actor: Actor, reason: string, messageId?: string): Promise<'ignored'> {
    await recordAudit(this.db, this.clock.now(), actor, { type: 'mail.bounce_ignored', detail: { reason, ...(messageId ? { message: messageId } : {}) } });
    this.logger.info({ reason }, 'inbound mail ignored');
    return 'ignored';
  }
}
