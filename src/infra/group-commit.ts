// Group commit: small writes that arrive together are written together, in one statement and one commit.

/**
 * Rows added while the event loop handles one round of I/O (every request that arrived meanwhile) are written
 * in one call of `write` — one statement, one transaction, one commit — and each add() resolves when its row is
 * committed, or rejects with the batch's error. While a write is under way, new rows wait and go in the next
 * one, so a slow commit gathers more rows instead of queueing more commits. A lone row is written at once
 * (setImmediate), so an idle server answers as fast as before.
 *
 * On SQLite every commit appends each page it changed to the write-ahead log: a one-row insert into a table with
 * two indexes writes three 4 KiB pages. A hundred rows in one commit share those pages, so the log grows and is
 * checkpointed a fraction as often, and the commit's cost is paid once.
 */
export class GroupCommit<T> {
  private pending: Array<{ row: T; resolve: () => void; reject: (error: unknown) => void }> = [];
  private scheduled = false;
  private writing: Promise<void> | null = null;

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly maxRows = 100,
  ) {}

  add(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every row added so far is written (or failed): for a graceful stop. */
  async settled(): Promise<void> {
    while (this.writing || this.pending.length > 0) {
      if (!this.writing) this.flush();
      await this.writing?.catch(() => undefined);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.writing || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxRows);
    this.writing = this.write(batch.map((entry) => entry.row)).then(
      () => {
        for (const entry of batch) entry.resolve();
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
    void this.writing.finally(() => {
      this.writing = null;
      if (this.pending.length > 0) this.schedule();
    });
  }
}
