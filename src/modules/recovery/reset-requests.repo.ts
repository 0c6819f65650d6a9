// SQL for self-service reset requests waiting to be acted on: recorded on the request path, claimed and removed by the courier's pass.
import type { ExpressionBuilder } from 'kysely';
import { forUpdateSkipLocked, type Database, type Db, type Executor, type ResetRequestsTable } from '../../infra/db.ts';

export type ResetRequest = ResetRequestsTable;

/** Several requests in one statement (the request path gathers those that arrive together: GroupCommit). */
export async function insertRequests(db: Executor, requests: ResetRequest[]): Promise<void> {
  await db.insertInto('reset_requests').values(requests).execute();
}

/**
 * Claims up to `limit` waiting requests, oldest first, for `leaseMs`: those nobody holds, and those whose
 * claim ran out (the instance acting on them stopped). Other instances skip rows being claimed right now.
 * The rows are chosen and locked first, then updated by id, in one transaction: an UPDATE … WHERE id IN
 * (SELECT … LIMIT … FOR UPDATE SKIP LOCKED) may run its subquery more than once on PostgreSQL and claim more.
 */
export async function claimRequests(db: Db, claimId: string, now: number, leaseMs: number, limit: number): Promise<ResetRequest[]> {
  const waiting = (eb: ExpressionBuilder<Database, 'reset_requests'>) => eb.or([eb('claim_id', 'is', null), eb('lease_until', '<', now)]);
  const claimed = await db.transaction().execute(async (trx) => {
    const ids = (await forUpdateSkipLocked(trx, trx.selectFrom('reset_requests').select('id').where(waiting).orderBy('requested_at').limit(limit)).execute()).map((row) => row.id);
    if (ids.length === 0) return [];
    return trx.updateTable('reset_requests').set({ claim_id: claimId, lease_until: now + leaseMs }).where('id', 'in', ids).where(waiting).returningAll().execute();
  });
  return claimed.sort((a, b) => a.requested_at - b.requested_at || a.id.localeCompare(b.id));
}

/** Removes requests acted on, if this claim still holds them; returns how many it removed. */
export async function removeClaimed(db: Executor, claimId: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const removed = await db.deleteFrom('reset_requests').where('id', 'in', ids).where('claim_id', '=', claimId).executeTakeFirst();
  return Number(removed.numDeletedRows);
}
