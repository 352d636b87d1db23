import Database from 'better-sqlite3';
import { backlogOrder, originPlace, type JobItem, type RunnerItem } from './dynamo-items.js';
import type { DynamoReads } from './dynamo-reads.js';
import { STORE_RETRY, StoreTransaction, withRetries } from './dynamo-transaction.js';
import { toJob, toRunner } from './sqlite-rows.js';
import type { JobRow, RunnerRow } from './sqlite-statements.js';

export interface ImportCounts {
  copied: number;
  /** Already in the table (an earlier run): left as they are. */
  skipped: number;
  /** Finished longer ago than the retention: TTL would delete them at once, so they are not copied. */
  expired: number;
}

/** Jobs and runners of a SQLite store, read-only, as DynamoDB items; jobs keep their arrival order (rowid). */
export function readSqliteRecords(file: string): { jobs: Omit<JobItem, 'version'>[]; runners: Omit<RunnerItem, 'version'>[] } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const jobRows = db.prepare('SELECT rowid AS seq, * FROM jobs ORDER BY rowid').all() as (JobRow & { seq: number })[];
    const runnerRows = db.prepare('SELECT * FROM runners ORDER BY rowid').all() as RunnerRow[];
    const jobs = jobRows.map((row) => ({
      ...toJob(row),
      order: backlogOrder(row.received_at, row.seq, row.provider, row.job_id),
      uncheckedSince: row.unchecked_since,
      uncheckedReported: row.unchecked_reported === 1,
    }));
    return { jobs, runners: runnerRows.map(toRunner) };
  } finally {
    db.close();
  }
}

/**
 * Writes records into the DynamoDB store's table, each only if absent, each in its own transaction with
 * what follows from it (a waiting job's backlog entry, the fleet's counts). A second run copies nothing
 * and counts nothing twice, and the counts stay those of the items the table holds.
 */
export class DynamoImport {
  constructor(
    private readonly reads: DynamoReads,
    private readonly retentionMs: number,
  ) {}

  /** `now` decides which finished records are past the retention. */
  async jobs(jobs: readonly Omit<JobItem, 'version'>[], now: number): Promise<ImportCounts> {
    return this.each(
      jobs,
      (job) => this.jobExpired(job, now),
      (transaction, job) => transaction.putJob(undefined, job),
    );
  }

  async runners(runners: readonly Omit<RunnerItem, 'version'>[], now: number): Promise<ImportCounts> {
    return this.each(
      runners,
      (runner) => runner.status === 'released' && runner.updatedAt + this.retentionMs < now,
      (transaction, runner) => transaction.putRunner(undefined, runner),
    );
  }

  /** The latest job copied from each place jobs came from, for the runner sweep (DynamoStore.jobOrigins). */
  async origins(jobs: readonly Omit<JobItem, 'version'>[], now: number): Promise<void> {
    const latest = new Map<string, Omit<JobItem, 'version'>>();
    for (const job of jobs) {
      const place = originPlace(job);
      if (!this.jobExpired(job, now) && (latest.get(place)?.receivedAt ?? -1) <= job.receivedAt) latest.set(place, job);
    }
    for (const job of latest.values()) await this.reads.recordOrigin(job, this.retentionMs);
  }

  private jobExpired(job: Omit<JobItem, 'version'>, now: number): boolean {
    return ['completed', 'abandoned', 'unmatched'].includes(job.status) && job.updatedAt + this.retentionMs < now;
  }

  /** One record at a time: a conflict with a replica writing the same fleet's counts is retried, never taken for a copy. */
  private async each<T>(
    records: readonly T[],
    expired: (record: T) => boolean,
    write: (transaction: StoreTransaction, record: T) => void,
  ): Promise<ImportCounts> {
    const counts: ImportCounts = { copied: 0, skipped: 0, expired: 0 };
    for (const record of records) {
      if (expired(record)) {
        counts.expired++;
        continue;
      }
      const outcome = await withRetries('store:migrate', STORE_RETRY, async () => {
        const transaction = new StoreTransaction(this.reads.table, this.retentionMs);
        write(transaction, record);
        try {
          await transaction.commit(this.reads.documents);
          return 'copied' as const;
        } catch (error) {
          if (alreadyThere(error)) return 'skipped' as const;
          throw error;
        }
      });
      counts[outcome]++;
    }
    return counts;
  }
}

/** The record's own put (the transaction's first item) found it in the table. */
function alreadyThere(error: unknown): boolean {
  const { name, CancellationReasons } = error as { name?: string; CancellationReasons?: { Code?: string }[] };
  return name === 'TransactionCanceledException' && CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed';
}
