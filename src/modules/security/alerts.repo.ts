// SQL for the Security module's own tables: the alerts, the hourly mail marks and the database's size samples.
import type { Executor, SecurityAlertsTable } from '../../infra/db.ts';

export type SecurityAlert = SecurityAlertsTable;

export async function insertAlert(db: Executor, alert: SecurityAlert): Promise<void> {
  await db.insertInto('security_alerts').values(alert).execute();
}

/** Whether an alert of this kind about this subject was raised since `since`. */
export async function raisedSince(db: Executor, kind: string, subject: string, since: number): Promise<boolean> {
  const row = await db
    .selectFrom('security_alerts')
    .select('id')
    .where('kind', '=', kind)
    .where('subject', '=', subject)
    .where('raised_at', '>=', since)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Alerts not yet acknowledged, newest first. */
export function openAlerts(db: Executor, limit: number): Promise<SecurityAlert[]> {
  return db.selectFrom('security_alerts').selectAll().where('acknowledged_at', 'is', null).orderBy('raised_at', 'desc').orderBy('id').limit(limit).execute();
}

/** Alerts raised since `since`, newest first. */
export function alertsSince(db: Executor, since: number, limit: number): Promise<SecurityAlert[]> {
  return db.selectFrom('security_alerts').selectAll().where('raised_at', '>=', since).orderBy('raised_at', 'desc').orderBy('id').limit(limit).execute();
}

/** Marks an open alert acknowledged; returns it, or undefined when there is no such open alert. */
export async function acknowledgeAlert(db: Executor, id: string, by: string, at: number): Promise<SecurityAlert | undefined> {
  return db
    .updateTable('security_alerts')
    .set({ acknowledged_at: at, acknowledged_by: by })
    .where('id', '=', id)
    .where('acknowledged_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Takes the right to mail administrators about this kind of alert: true at most once per `intervalMs`, whichever
 * instance asks. The row is written only if its last mail is old enough, so two instances cannot both succeed.
 */
export async function takeMailTurn(db: Executor, kind: string, now: number, intervalMs: number): Promise<boolean> {
  const inserted = await db
    .insertInto('security_alert_mails')
    .values({ kind, mailed_at: now })
    .onConflict((oc) => oc.column('kind').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true;
  const updated = await db
    .updateTable('security_alert_mails')
    .set({ mailed_at: now })
    .where('kind', '=', kind)
    .where('mailed_at', '<=', now - intervalMs)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Records the size for this hour, unless a sample of this hour exists; drops samples older than `keepFrom`. */
export async function recordSizeSample(db: Executor, hourStart: number, bytes: number, keepFrom: number): Promise<void> {
  await db
    .insertInto('database_size_samples')
    .values({ at: hourStart, bytes })
    .onConflict((oc) => oc.column('at').doNothing())
    .execute();
  await db.deleteFrom('database_size_samples').where('at', '<', keepFrom).execute();
}

export async function latestSizeSampleAt(db: Executor): Promise<number | null> {
  const row = await db.selectFrom('database_size_samples').select((eb) => eb.fn.max('at').as('at')).executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

export async function sizeSamplesSince(db: Executor, from: number): Promise<Array<{ at: number; bytes: number }>> {
  const rows = await db.selectFrom('database_size_samples').select(['at', 'bytes']).where('at', '>=', from).orderBy('at').execute();
  return rows.map((row) => ({ at: Number(row.at), bytes: Number(row.bytes) }));
}
