// Exporting users: every user, archived ones too, read in pages so the directory is never all in memory.
import type { Clock } from '../../infra/clock.ts';
import type { Db } from '../../infra/db.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { usersAfterEmail } from '../users/users.repo.ts';
import type { ExportedUser, TransferFormat } from './formats.ts';

const PAGE = 1000;

export class UserExport {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /**
   * Every user in email order, a page at a time. Password hashes only when asked for: they are secrets (an
   * offline guessing attack needs nothing else). Users created or changed while it runs may or may not appear.
   */
  async *users(options: { withHashes: boolean }): AsyncGenerator<ExportedUser> {
    let after: string | null = null;
    for (;;) {
      const page = await usersAfterEmail(this.db, after, PAGE);
      for (const user of page) {
        yield { name: user.name, email: user.email, role: user.role, status: user.status, ...(options.withHashes ? { password_hash: user.password_hash } : {}) };
      }
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.email;
    }
  }

  /** An export is an administrator's action: recorded once it is written. */
  async recordExport(actor: Actor, detail: { users: number; withHashes: boolean; format: TransferFormat }): Promise<void> {
    await recordAudit(this.db, this.clock.now(), actor, { type: 'users.exported', detail });
  }
}
