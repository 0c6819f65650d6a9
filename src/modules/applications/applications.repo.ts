// SQL for the registered applications (OpenID Connect relying parties): the only code that reads or writes their table.
import type { ApplicationsTable, Executor } from '../../infra/db.ts';

export type ApplicationRow = ApplicationsTable;

export function listApplicationRows(db: Executor): Promise<ApplicationRow[]> {
  return db.selectFrom('applications').selectAll().orderBy('name').orderBy('id').execute();
}

export function findApplicationRow(db: Executor, id: string): Promise<ApplicationRow | undefined> {
  return db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertApplicationRow(db: Executor, row: ApplicationRow): Promise<void> {
  await db.insertInto('applications').values(row).execute();
}

export type ApplicationDetails = Pick<ApplicationRow, 'name' | 'first_party' | 'redirect_uris' | 'post_logout_redirect_uris' | 'scopes' | 'updated_at'>;

export async function updateApplicationRow(db: Executor, id: string, details: ApplicationDetails): Promise<boolean> {
  const result = await db.updateTable('applications').set(details).where('id', '=', id).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function updateApplicationSecret(db: Executor, id: string, secretSealed: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('applications')
    .set({ secret_sealed: secretSealed, secret_rotated_at: at, updated_at: at })
    .where('id', '=', id)
    .where('kind', '=', 'confidential')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteApplicationRow(db: Executor, id: string): Promise<boolean> {
  const result = await db.deleteFrom('applications').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
