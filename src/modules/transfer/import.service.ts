// Importing users from another system: rows checked one by one, written in batches, each batch one transaction.
import type { Clock } from '../../infra/clock.ts';
import { isUniqueViolation, type Db, type Executor } from '../../infra/db.ts';
import { newId } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, recordAudits, type Actor } from '../audit/audit.ts';
import { readImportedHash } from '../passwords/imported-hashes.ts';
import { normalizeEmail, normalizeName } from '../users/identity.ts';
import { findUsersByEmails, insertUsers, searchKeyOf, type User } from '../users/users.repo.ts';
import { TRANSFER_COLUMNS, type ParsedRow } from './formats.ts';

/**
 * Users written per transaction, in one statement for the users and one for their audit events: 1,000 rows of
 * 10 columns stay under both databases' parameter limits (SQLite 32,766, PostgreSQL 65,535).
 */
export const IMPORT_BATCH = 1000;

/**
 * What became of one row. `created`: the user exists now. `skipped`: a bad row, left out (reason says why).
 * `refused`: not written because the import was refused as a whole (--all-or-nothing); reason says why for
 * the bad rows and is absent for the good ones.
 */
export interface RowResult {
  line: number;
  outcome: 'created' | 'skipped' | 'refused';
  email: string | null;
  userId?: string;
  reason?: string;
}

export interface ImportReport {
  created: number;
  skipped: number;
  refused: number;
  /** One per row, in the order given. */
  rows: RowResult[];
}

export interface ImportOptions {
  actor: Actor;
  /** Nothing is written unless every row is good. */
  allOrNothing?: boolean;
  /** Where the rows came from (a file name, "api"), for the audit log. */
  source?: string;
  /** After each batch written: users written so far, of how many to write. */
  onProgress?: (written: number, total: number) => void;
}

/** A row that describes a user Latchkey can create. */
interface Draft {
  index: number;
  email: string;
  name: string;
  role: User['role'];
  status: User['status'];
  passwordHash: string | null;
}

const ROLES: Record<string, User['role']> = { user: 'user', admin: 'admin', administrator: 'admin' };
const STATUSES: Record<string, User['status']> = { active: 'active', archived: 'archived' };

/** A bad row's reason, as a value: rows are checked in bulk and reported together. */
class BadRow extends Error {}

function text(fields: Record<string, unknown>, column: string, optional: boolean): string {
  const value = fields[column];
  if (value === undefined || value === null || value === '') {
    if (optional) return '';
    throw new BadRow(`${column}: missing`);
  }
  if (typeof value !== 'string') throw new BadRow(`${column}: must be text`);
  return value;
}

function messageOf(error: unknown, column: string): string {
  if (error instanceof BadRow) return error.message;
  if (error instanceof UserError) return `${column}: ${error.message}`;
  throw error;
}

/** The user a row describes, or throws BadRow with a one-line reason. */
function draftOf(fields: Record<string, unknown>, index: number): Draft {
  for (const key of Object.keys(fields)) {
    if (!(TRANSFER_COLUMNS as readonly string[]).includes(key)) throw new BadRow(`unknown field "${key}" (known: ${TRANSFER_COLUMNS.join(', ')})`);
  }
  const read = <T>(column: string, parse: (value: string) => T): T => {
    try {
      return parse(text(fields, column, column !== 'email' && column !== 'name'));
    } catch (error) {
      throw new BadRow(messageOf(error, column));
    }
  };
  const email = read('email', normalizeEmail);
  const name = read('name', normalizeName);
  const role = read('role', (value) => {
    const role = value === '' ? 'user' : ROLES[value.trim().toLowerCase()];
    if (!role) throw new BadRow(`role: "${value}" is not a role (user or admin)`);
    return role;
  });
  const status = read('status', (value) => {
    const status = value === '' ? 'active' : STATUSES[value.trim().toLowerCase()];
    if (!status) throw new BadRow(`status: "${value}" is not a status (active or archived)`);
    return status;
  });
  const passwordHash = read('password_hash', (value) => {
    if (value.trim() === '') return null;
    const hash = readImportedHash(value);
    if (!hash.ok) throw new BadRow(`password_hash: ${hash.problem}`);
    return hash.stored;
  });
  return { index, email, name, role, status, passwordHash };
}

/** Thrown inside an all-or-nothing import's transaction to undo it. */
class Refusal extends Error {
  constructor(readonly index: number, readonly reason: string) {
    super(reason);
  }
}

const ALREADY_EXISTS = 'a user with this email already exists';

export class UserImport {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Checks every row, writes the good ones (or none, with allOrNothing, if any is bad) and reports each row. */
  async run(rows: ParsedRow[], options: ImportOptions): Promise<ImportReport> {
    const results: RowResult[] = rows.map((row) => ({ line: row.line, outcome: 'skipped', email: null }));
    const bad = (index: number, reason: string) => {
      results[index] = { ...results[index]!, outcome: 'skipped', reason };
    };
    const drafts: Draft[] = [];
    const firstLineOf = new Map<string, number>();
    rows.forEach((row, index) => {
      if ('problem' in row) return bad(index, row.problem);
      let draft: Draft;
      try {
        draft = draftOf(row.fields, index);
      } catch (error) {
        return bad(index, messageOf(error, ''));
      }
      results[index]!.email = draft.email;
      const first = firstLineOf.get(draft.email);
      if (first !== undefined) return bad(index, `the email ${draft.email} is also on line ${first}`);
      firstLineOf.set(draft.email, row.line);
      drafts.push(draft);
    });
    const taken = await this.existingEmails(this.db, drafts.map((draft) => draft.email));
    const good = drafts.filter((draft) => {
      if (taken.has(draft.email)) bad(draft.index, ALREADY_EXISTS);
      return !taken.has(draft.email);
    });

    if (options.allOrNothing) {
      // Written in one transaction, so a clash found half-way undoes every batch before it.
      if (good.length === rows.length) {
        try {
          await this.db.transaction().execute(async (trx) => {
            for (let start = 0; start < good.length; start += IMPORT_BATCH) {
              const batch = good.slice(start, start + IMPORT_BATCH);
              // Another writer may have taken an address since the check.
              const now = await this.existingEmails(trx, batch.map((draft) => draft.email));
              const clash = batch.find((draft) => now.has(draft.email));
              if (clash) throw new Refusal(clash.index, ALREADY_EXISTS);
              await this.write(trx, batch, results, options.actor);
              options.onProgress?.(start + batch.length, good.length);
            }
          });
        } catch (error) {
          if (error instanceof Refusal) bad(error.index, error.reason);
          else if (isUniqueViolation(error)) bad(0, 'another writer created a user with one of these emails during the import');
          else throw error;
        }
      }
      if (results.some((result) => result.outcome !== 'created')) {
        for (const result of results) {
          result.outcome = 'refused';
          delete result.userId;
        }
      }
    } else {
      for (let start = 0; start < good.length; start += IMPORT_BATCH) {
        await this.writeBatch(good.slice(start, start + IMPORT_BATCH), results, options.actor);
        options.onProgress?.(start + Math.min(IMPORT_BATCH, good.length - start), good.length);
      }
    }

    const report: ImportReport = {
      created: results.filter((result) => result.outcome === 'created').length,
      skipped: results.filter((result) => result.outcome === 'skipped').length,
      refused: results.filter((result) => result.outcome === 'refused').length,
      rows: results,
    };
    await recordAudit(this.db, this.clock.now(), options.actor, {
      type: 'users.imported',
      detail: { created: report.created, skipped: report.skipped, refused: report.refused, allOrNothing: options.allOrNothing === true, ...(options.source ? { source: options.source } : {}) },
    });
    return report;
  }

  /**
   * One batch, one transaction: addresses taken since the check are skipped; if another writer takes one
   * between this check and the insert (PostgreSQL), the batch is undone whole and checked again.
   */
  private async writeBatch(batch: Draft[], results: RowResult[], actor: Actor): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction().execute(async (trx) => {
          const taken = await this.existingEmails(trx, batch.map((draft) => draft.email));
          await this.write(trx, batch.filter((draft) => !taken.has(draft.email)), results, actor);
          for (const draft of batch) if (taken.has(draft.email)) results[draft.index] = { ...results[draft.index]!, outcome: 'skipped', reason: ALREADY_EXISTS };
        });
        return;
      } catch (error) {
        for (const draft of batch) if (results[draft.index]!.outcome === 'created') results[draft.index] = { line: results[draft.index]!.line, outcome: 'skipped', email: draft.email };
        if (!isUniqueViolation(error) || attempt === 3) throw error;
      }
    }
  }

  private async write(trx: Executor, batch: Draft[], results: RowResult[], actor: Actor): Promise<void> {
    if (batch.length === 0) return;
    const now = this.clock.now();
    const users: User[] = batch.map((draft) => ({
      id: newId(),
      email: draft.email,
      name: draft.name,
      role: draft.role,
      status: draft.status,
      password_hash: draft.passwordHash,
      created_at: now,
      last_login_at: null,
      password_changed_at: draft.passwordHash ? now : null,
      search_key: searchKeyOf(draft.name, draft.email),
      // Moving in proves nothing about the address: it is unverified until its user uses an emailed link.
      email_verified_at: null,
      language: null,
    }));
    await insertUsers(trx, users);
    await recordAudits(
      trx,
      actor,
      users.map((user) => ({ at: now, type: 'user.created' as const, userId: user.id, email: user.email, detail: { role: user.role, status: user.status, via: 'import' } })),
    );
    batch.forEach((draft, i) => {
      results[draft.index] = { line: results[draft.index]!.line, outcome: 'created', email: draft.email, userId: users[i]!.id };
    });
  }

  /** Which of these addresses belong to a user already, asked 500 at a time. */
  private async existingEmails(db: Executor, emails: string[]): Promise<Set<string>> {
    const taken = new Set<string>();
    for (let start = 0; start < emails.length; start += 500) {
      for (const user of await findUsersByEmails(db, emails.slice(start, start + 500))) taken.add(user.email);
    }
    return taken;
  }
}
