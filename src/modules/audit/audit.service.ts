// Reading the audit log, for the console's Audit Log, a user's activity and the CSV export: nothing else reads it.
import type { Db } from '../../infra/db.ts';
import { emailsByIds } from '../users/users.repo.ts';
import type { AuditType } from './audit.ts';
import { listAuditEvents, type AuditEvent } from './audit.repo.ts';

export interface AuditQuery {
  userId?: string;
  /** The address as recorded, for events of addresses that belong to nobody. */
  email?: string;
  type?: AuditType;
  /** Any of these types. */
  types?: AuditType[];
  account?: 'known' | 'unknown';
  ip?: string;
  ips?: string[];
  /** Addresses starting with one of these (an IPv4 /24: "203.0.113."). */
  ipPrefixes?: string[];
  from?: number;
  to?: number;
  limit: number;
  offset?: number;
}

/** An event with the current email of its user and of the acting user, for display. */
export type AuditRow = AuditEvent & { user_email: string | null; actor_email: string | null };

export class AuditLog {
  constructor(private readonly db: Db) {}

  /** Newest first (in the order written), with the user's and the acting user's current email. */
  async list(query: AuditQuery): Promise<{ rows: AuditRow[]; total: number }> {
    const { limit, offset, ...filter } = query;
    // An empty list of addresses (a network nobody wrote from) matches nothing.
    if (filter.ips?.length === 0) return { rows: [], total: 0 };
    const { rows, total } = await listAuditEvents(this.db, filter, limit, offset);
    const ids = rows.flatMap((row) => [row.user_id, row.actor_id]).filter((id): id is string => id !== null);
    const emails = await emailsByIds(this.db, ids);
    const withEmails = rows.map((row) => ({
      ...row,
      user_email: row.user_id ? (emails.get(row.user_id) ?? null) : null,
      actor_email: row.actor_id ? (emails.get(row.actor_id) ?? null) : null,
    }));
    return { rows: withEmails, total };
  }
}
