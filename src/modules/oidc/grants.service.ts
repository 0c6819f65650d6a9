// What a user has allowed applications, and taking it back: the applications listed on /account with their
// "Revoke", and the end of every user's access when an administrator removes an application. Each ending
// deletes the grants with their codes and tokens and says so in the audit log, inside the caller's transaction.
//
// "Revoke" also signs the user out of that application: no provider session stays bound to it, and until the
// user enters their password in a sign-in to it, a still-live Latchkey session does not sign them in silently —
// a third-party application's consent screen comes again after the password, and a first-party application,
// which has no consent screen, gets the person's password as the sign-in it cannot skip.
import type { Executor } from '../../infra/db.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { clearApplicationRevoked, deleteClientArtifacts, isApplicationRevoked, listGrantsOfAccount, markApplicationRevoked, unbindClientFromSessions } from './oidc.repo.ts';

/** One application a user is signed in to: since the first of its grants, with every scope those grants hold. */
export interface ApplicationGrant {
  clientId: string;
  /** Epoch milliseconds. */
  since: number;
  scopes: string[];
}

interface GrantPayload {
  clientId?: string;
  iat?: number;
  openid?: { scope?: string };
  rejected?: { openid?: { scope?: string } };
}

/** The scopes a grant holds: those asked for, less any the person declined (openid cannot be declined). */
function scopesOf(grant: GrantPayload): string[] {
  const rejected = new Set((grant.rejected?.openid?.scope ?? '').split(' ').filter((scope) => scope !== 'openid'));
  return (grant.openid?.scope ?? '').split(' ').filter((scope) => scope !== '' && !rejected.has(scope));
}

/** The applications a user has a live grant with, the longest-standing first. */
export async function grantsOfUser(db: Executor, userId: string, now: number): Promise<ApplicationGrant[]> {
  const byClient = new Map<string, ApplicationGrant>();
  for (const row of await listGrantsOfAccount(db, userId, now)) {
    const grant = JSON.parse(row.payload) as GrantPayload;
    if (!grant.clientId) continue;
    const since = (grant.iat ?? Math.floor(now / 1000)) * 1000;
    const seen = byClient.get(grant.clientId);
    if (!seen) {
      byClient.set(grant.clientId, { clientId: grant.clientId, since, scopes: scopesOf(grant) });
      continue;
    }
    seen.since = Math.min(seen.since, since);
    seen.scopes = [...new Set([...seen.scopes, ...scopesOf(grant)])];
  }
  return [...byClient.values()].sort((a, b) => a.since - b.since || a.clientId.localeCompare(b.clientId));
}

/**
 * "Revoke" on /account: one application's grants, codes and tokens for this user, its place in the user's provider
 * sessions, and a mark that its next sign-in needs the password. Returns how many grants ended.
 */
export async function revokeApplicationForUser(
  db: Executor,
  at: number,
  actor: Actor,
  user: { id: string; email: string },
  application: { clientId: string; name: string },
): Promise<number> {
  const { grants, rows } = await deleteClientArtifacts(db, application.clientId, user.id);
  const sessions = await unbindClientFromSessions(db, user.id, application.clientId);
  await markApplicationRevoked(db, user.id, application.clientId, at);
  if (rows > 0 || sessions > 0) {
    await recordAudit(db, at, actor, {
      type: 'oidc.revoked',
      userId: user.id,
      email: user.email,
      detail: { application: application.name, clientId: application.clientId, grants, reason: 'user' },
    });
  }
  return grants;
}

/** An application removed: every user's grants, codes and tokens for it. Returns how many users it was signed in for. */
export async function endApplicationForEveryone(db: Executor, at: number, actor: Actor, application: { clientId: string; name: string }): Promise<number> {
  const { grants, accounts, rows } = await deleteClientArtifacts(db, application.clientId, null);
  if (rows > 0) {
    await recordAudit(db, at, actor, {
      type: 'oidc.revoked',
      detail: { application: application.name, clientId: application.clientId, grants, users: accounts.length, reason: 'application removed' },
    });
  }
  return accounts.length;
}

/** Whether a sign-in of this user to this application needs the password, because they revoked it on /account. */
export function passwordNeededAfterRevoke(db: Executor, userId: string, clientId: string): Promise<boolean> {
  return isApplicationRevoked(db, userId, clientId);
}

/** The user entered the password in a sign-in to the application: its revocation has been answered. */
export function signedInAgainAfterRevoke(db: Executor, userId: string, clientId: string): Promise<void> {
  return clearApplicationRevoked(db, userId, clientId);
}
