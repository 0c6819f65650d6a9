// An address proven by a link mailed to it and used: "Email Verified" is set, and a bounce's "Undeliverable" mark goes.
import type { Executor } from '../../infra/db.ts';
import type { Actor } from '../audit/audit.ts';
import { markDeliverable } from '../mail/bounces.service.ts';
import { confirmAddress } from '../users/users.repo.ts';

export async function addressProven(trx: Executor, now: number, actor: Actor, user: { id: string; email: string }, how: string): Promise<void> {
  await confirmAddress(trx, user.id, now);
  await markDeliverable(trx, now, actor, { email: user.email, userId: user.id }, how);
}
