// SQL for webhooks: subscriptions, the deliveries queue with its attempts, and the dispatcher's place in the audit log.
import { sql, type ExpressionBuilder } from 'kysely';
import { forUpdateSkipLocked, type Database, type Db, type Executor, type WebhookAttemptsTable, type WebhookDeliveriesTable, type WebhookSubscriptionsTable } from '../../infra/db.ts';

export type SubscriptionRow = WebhookSubscriptionsTable;
export type DeliveryRow = WebhookDeliveriesTable;
export type AttemptRow = WebhookAttemptsTable;

export function listSubscriptionRows(db: Executor): Promise<SubscriptionRow[]> {
  return db.selectFrom('webhook_subscriptions').selectAll().orderBy('created_at').orderBy('id').execute();
}

export function findSubscriptionRow(db: Executor, id: string): Promise<SubscriptionRow | undefined> {
  return db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertSubscriptionRow(db: Executor, row: SubscriptionRow): Promise<void> {
  await db.insertInto('webhook_subscriptions').values(row).execute();
}

export async function updateSubscriptionRow(
  db: Executor,
  id: string,
  change: Partial<Pick<SubscriptionRow, 'url' | 'description' | 'events' | 'enabled' | 'secret_sealed' | 'secret_rotated_at' | 'updated_at'>>,
): Promise<boolean> {
  const result = await db.updateTable('webhook_subscriptions').set(change).where('id', '=', id).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteSubscriptionRow(db: Executor, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webhook_subscriptions').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function readCursor(db: Executor): Promise<number> {
  const row = await db.selectFrom('webhook_cursor').select('last_event_id').where('name', '=', 'audit').executeTakeFirst();
  return Number(row?.last_event_id ?? 0);
}

/** Moves the cursor forward only: instances that read the log side by side never move it back. */
export async function advanceCursor(db: Executor, to: number): Promise<void> {
  await db.updateTable('webhook_cursor').set({ last_event_id: to }).where('name', '=', 'audit').where('last_event_id', '<', to).execute();
}

/** Queues deliveries; one that already exists for its event and subscription (another instance's) stays as it is. */
export async function insertDeliveries(db: Executor, rows: DeliveryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('webhook_deliveries')
    .values(rows)
    .onConflict((oc) => oc.columns(['subscription_id', 'event_id']).doNothing())
    .execute();
}

/** Due: waiting for its time, or claimed by a worker whose lease ran out (it died mid-attempt). */
const isDue = (now: number) => (eb: ExpressionBuilder<Database, 'webhook_deliveries'>) =>
  eb.or([
    eb.and([eb('status', 'in', ['pending', 'retrying']), eb('next_attempt_at', '<=', now)]),
    eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', now)]),
  ]);

/**
 * Takes up to `limit` due deliveries under a new claim, in one transaction: the due rows are selected and locked,
 * then claimed by id. On PostgreSQL rows another instance holds are skipped rather than waited for; on SQLite the
 * transaction holds the write lock. (Not as one UPDATE … WHERE id IN (SELECT … LIMIT … SKIP LOCKED): PostgreSQL
 * may run such a subquery again for each row, skip the rows the statement itself just locked, and so claim far
 * more than the limit.) Returns the claimed rows and the ids of those whose earlier lease had run out.
 */
export async function claimDueDeliveries(db: Db, claimId: string, now: number, leaseMs: number, limit: number): Promise<{ claimed: DeliveryRow[]; interrupted: Set<string> }> {
  return db.transaction().execute(async (trx) => {
    const due = await forUpdateSkipLocked(
      trx,
      trx
        .selectFrom('webhook_deliveries')
        .select(['id', 'status'])
        .where(isDue(now))
        // A disabled webhook's deliveries wait until it is enabled again.
        .where('subscription_id', 'in', trx.selectFrom('webhook_subscriptions').select('id').where('enabled', '=', 1))
        .orderBy('next_attempt_at')
        .limit(limit),
    ).execute();
    if (due.length === 0) return { claimed: [], interrupted: new Set<string>() };
    const claimed = await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'sending', lease_until: now + leaseMs, claim_id: claimId })
      .where('id', 'in', due.map((row) => row.id))
      .returningAll()
      .execute();
    // Claimed while another worker's claim was on it: that worker died mid-attempt.
    return { claimed, interrupted: new Set(due.filter((row) => row.status === 'sending').map((row) => row.id)) };
  });
}

/** The outcome of an attempt, written only while this claim still holds the delivery; returns whether it did. */
export async function recordOutcome(
  db: Executor,
  id: string,
  claimId: string,
  change: Pick<DeliveryRow, 'status' | 'attempts' | 'next_attempt_at' | 'delivered_at' | 'last_error'>,
): Promise<boolean> {
  const rows = await db
    .updateTable('webhook_deliveries')
    .set({ ...change, lease_until: null, claim_id: null })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .where('claim_id', '=', claimId)
    .returning('id')
    .execute();
  return rows.length > 0;
}

export async function insertAttempts(db: Executor, rows: AttemptRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto('webhook_attempts').values(rows).execute();
}

/** A subscription's newest deliveries with every attempt of each, for its page in the console. */
export async function recentDeliveries(db: Executor, subscriptionId: string, limit: number): Promise<Array<DeliveryRow & { attemptRows: AttemptRow[] }>> {
  const deliveries = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('subscription_id', '=', subscriptionId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  if (deliveries.length === 0) return [];
  const attempts = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', 'in', deliveries.map((delivery) => delivery.id))
    .orderBy('at')
    .orderBy('id')
    .execute();
  return deliveries.map((delivery) => ({
    ...delivery,
    attemptRows: attempts.filter((attempt) => attempt.delivery_id === delivery.id),
  }));
}

/** Deliveries of a subscription by status (the list's "failed" count). */
export async function countDeliveriesByStatus(db: Executor): Promise<Array<{ subscription_id: string; status: string; count: number }>> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['subscription_id', 'status', sql<number>`count(*)`.as('count')])
    .groupBy(['subscription_id', 'status'])
    .execute();
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

/**
 * Up to `limit` finished deliveries (delivered or failed) made before `before`, with their attempts: the retention
 * cleanup, in batches. Long past the dispatcher's look-back, so a removed delivery is never made again.
 */
export async function deleteFinishedDeliveriesBefore(db: Executor, before: number, limit: number): Promise<{ deliveries: number; attempts: number }> {
  const oldest = await db.selectFrom('webhook_deliveries').select('id').where('status', 'in', ['delivered', 'failed']).where('created_at', '<', before).limit(limit).execute();
  const ids = oldest.map((row) => row.id);
  if (ids.length === 0) return { deliveries: 0, attempts: 0 };
  const attempts = await db.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).executeTakeFirst();
  const deliveries = await db.deleteFrom('webhook_deliveries').where('id', 'in', ids).executeTakeFirst();
  return { deliveries: Number(deliveries.numDeletedRows), attempts: Number(attempts.numDeletedRows) };
}
