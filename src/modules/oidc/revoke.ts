// Sessions ended in Latchkey end in every application too: a password change, a reset, "End all sessions",
// "Log out other sessions" and archiving delete what the provider holds for the user — its sessions, grants,
// codes, access and refresh tokens — in the same transaction, and say so in the audit log.
import type { Executor } from '../../infra/db.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { deleteAccountArtifacts } from './oidc.repo.ts';

/** Returns how many applications' grants ended; audited as oidc.revoked when any did. */
export async function revokeApplicationAccess(db: Executor, at: number, actor: Actor, user: { id: string; email?: string | null }, reason: string): Promise<number> {
  const { grants, rows } = await deleteAccountArtifacts(db, user.id);
  if (rows > 0) {
    await recordAudit(db, at, actor, { type: 'oidc.revoked', userId: user.id, email: user.email ?? null, detail: { grants, reason } });
  }
  return grants;
}
