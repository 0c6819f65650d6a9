// The dispatcher: reads the audit log and turns each event that subscriptions want into one delivery per subscription.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newOrderedId } from '../../infra/crypto.ts';
import { payloadOf, SOURCE_TYPES, type WebhookUser } from './events.ts';
import { auditEventsAfter } from '../audit/audit.repo.ts';
import { profilesByIds } from '../users/users.repo.ts';
import { advanceCursor, insertDeliveries, listSubscriptionRows, readCursor, type DeliveryRow } from './webhooks.repo.ts';

/**
 * How far back each pass reads again. On PostgreSQL an audit event's id is drawn when it is inserted and becomes
 * visible when its transaction commits, so ids can appear out of order: a pass that saw id 11 may not yet have
 * seen id 10. Reading again from a little before the cursor (the last LOOKBACK_IDS ids, or as far as the cursor
 * was a minute ago) finds those; the unique (subscription, event) key makes reading twice harmless.
 */
const LOOKBACK_IDS = 1000;
const LOOKBACK_MS = 60_000;
const BATCH = 500;

export class Dispatcher {
  /** Where the cursor stood at each recent pass (this process's memory; a restart falls back on LOOKBACK_IDS). */
  private marks: Array<{ at: number; cursor: number }> = [];
  /** Events this process has already turned into deliveries, within the window it reads again. */
  private readonly done = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** One pass over the new end of the audit log; returns how many deliveries it queued (another instance may have queued some first). */
  async dispatch(): Promise<number> {
    const now = this.clock.now();
    const cursor = await readCursor(this.db);
    this.marks = this.marks.filter((mark) => mark.at >= now - LOOKBACK_MS);
    this.marks.push({ at: now, cursor });
    let from = Math.max(0, Math.min(cursor - LOOKBACK_IDS, ...this.marks.map((mark) => mark.cursor)));
    for (const id of this.done) if (id <= from) this.done.delete(id);

    const subscriptions = (await listSubscriptionRows(this.db)).filter((row) => row.enabled === 1).map((row) => ({ ...row, wants: new Set(JSON.parse(row.events) as string[]) }));
    let dispatched = 0;
    for (;;) {
      const events = await auditEventsAfter(this.db, from, SOURCE_TYPES, BATCH);
      if (events.length === 0) break;
      const fresh = events.filter((event) => !this.done.has(event.id));
      const users = await profilesByIds(this.db, [...new Set(fresh.flatMap((event) => (event.user_id ? [event.user_id] : [])))]);
      const deliveries: DeliveryRow[] = [];
      for (const event of fresh) {
        const user: WebhookUser | null = (event.user_id && users.get(event.user_id)) || null;
        const payload = payloadOf(event, user);
        if (!payload) continue;
        for (const subscription of subscriptions) {
          if (event.id <= subscription.after_event_id || !subscription.wants.has(payload.type)) continue;
          deliveries.push({
            id: newOrderedId(),
            subscription_id: subscription.id,
            event_id: event.id,
            event_type: payload.type,
            payload: JSON.stringify(payload),
            status: 'pending',
            attempts: 0,
            next_attempt_at: now,
            lease_until: null,
            claim_id: null,
            created_at: now,
            delivered_at: null,
            last_error: null,
          });
        }
      }
      const last = events[events.length - 1]!.id;
      await this.db.transaction().execute(async (trx) => {
        await insertDeliveries(trx, deliveries);
        await advanceCursor(trx, last);
      });
      for (const event of fresh) this.done.add(event.id);
      dispatched += deliveries.length;
      from = last;
      if (events.length < BATCH) break;
    }
    return dispatched;
  }
}
