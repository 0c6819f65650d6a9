// Readiness: whether this instance should get traffic — the database answers, its schema is current, its mail worker lives.
import { sql } from 'kysely';
import { describeDatabase, type Config } from '../../config.ts';
import type { Clock } from '../../infra/clock.ts';
import { migrationsCurrent, type Db } from '../../infra/db.ts';
import type { Logger } from '../../infra/logger.ts';
import type { MailWorker } from '../mail/worker.ts';
import type { BounceListener } from '../mail/bounce-listener.ts';

/** A probe that waits longer than this counts the database as not answering: load balancers time out too. */
const DATABASE_TIMEOUT_MS = 2000;
/** The worker looks for due mail every second; a minute without a pass means it is stuck. */
const WORKER_SILENCE_MS = 60_000;

export interface ReadinessReport {
  status: 'ready' | 'not ready';
  /** Where the data lives, without credentials. */
  database: string;
  checks: {
    database: 'ok' | 'no answer' | 'not checked';
    migrations: 'current' | 'pending' | 'not checked';
    mailWorker: 'alive' | 'stopped' | 'stuck' | 'off';
    /** Only where LATCHKEY_BOUNCE_LISTEN is set and the mail worker is on (where the listener runs). */
    bounceListener?: 'listening' | 'stopped';
  };
  /** One sentence per thing that is wrong, for the person reading the probe's answer. */
  problems: string[];
}

export class Readiness {
  private shuttingDown = false;
  private lastProblems = '';

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly worker: Pick<MailWorker, 'health'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly bounceListener: Pick<BounceListener, 'health'> | null = null,
  ) {}

  /** From now on the instance reports itself not ready, whatever the checks say: it is going away. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  get stopping(): boolean {
    return this.shuttingDown;
  }

  async check(): Promise<ReadinessReport> {
    const database = describeDatabase(this.config.database);
    const report: ReadinessReport = {
      status: 'ready',
      database,
      checks: { database: 'not checked', migrations: 'not checked', mailWorker: this.config.mailWorker ? this.workerState() : 'off' },
      problems: [],
    };
    if (this.bounceListener && this.config.mailWorker) report.checks.bounceListener = this.bounceListener.health().enabled ? 'listening' : 'stopped';
    if (this.shuttingDown) {
      report.problems.push('the server is shutting down');
    } else {
      try {
        await withTimeout(sql`select 1`.execute(this.db), DATABASE_TIMEOUT_MS);
        report.checks.database = 'ok';
        report.checks.migrations = (await withTimeout(migrationsCurrent(this.db), DATABASE_TIMEOUT_MS)) ? 'current' : 'pending';
      } catch {
        report.checks.database = 'no answer';
      }
      if (report.checks.database !== 'ok') report.problems.push(`the database (${database}) does not answer`);
      if (report.checks.migrations === 'pending') report.problems.push('the database schema is not up to date: run `latchkey migrate`');
      if (report.checks.mailWorker === 'stopped') report.problems.push('the mail worker is stopped');
      if (report.checks.mailWorker === 'stuck') report.problems.push('the mail worker has not looked for mail in over a minute');
      if (report.checks.bounceListener === 'stopped') report.problems.push('the bounce listener is not listening');
    }
    if (report.problems.length > 0) report.status = 'not ready';
    this.logChange(report);
    return report;
  }

  private workerState(): 'alive' | 'stopped' | 'stuck' {
    const { enabled, running, lastPassAt } = this.worker.health();
    if (!enabled) return 'stopped';
    if (running) return 'alive';
    return lastPassAt !== null && this.clock.now() - lastPassAt <= WORKER_SILENCE_MS ? 'alive' : 'stuck';
  }

  /** Probes come every few seconds: only a change of state is worth a log line. */
  private logChange(report: ReadinessReport): void {
    const problems = report.problems.join('; ');
    if (problems === this.lastProblems || this.shuttingDown) {
      this.lastProblems = problems;
      return;
    }
    this.lastProblems = problems;
    if (problems === '') this.logger.info('ready again');
    else this.logger.warn({ problems: report.problems }, 'not ready');
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
