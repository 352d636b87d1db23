import Database from 'better-sqlite3';
import { backlogOrder, originPlace, type JobItem, type RunnerItem } from './dynamo-items.js';
import type { DynamoReads } from './dynamo-reads.js';
import { lostRace, StoreTransaction } from './dynamo-transaction.js';
import { toJob, toRunner } from './sqlite.js';
import type { JobRow, RunnerRow } from './sqlite-statements.js';

export interface ImportCounts {
  copied: number;
  /** Already in the table (an earlier run): left as they are. */
  skipped: number;
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

  async jobs(jobs: readonly Omit<JobItem, 'version'>[]): Promise<ImportCounts> {
    return this.each(jobs, (transaction, job) => transaction.putJob(undefined, job));
  }

  async runners(runners: readonly Omit<RunnerItem, 'version'>[]): Promise<ImportCounts> {
    return this.each(runners, (transaction, runner) => transaction.putRunner(undefined, runner));
  }

  /** The latest job of each place jobs came from, for the runner sweep (DynamoStore.jobOrigins). */
  async origins(jobs: readonly Omit<JobItem, 'version'>[]): Promise<void> {
    const latest = new Map<string, Omit<JobItem, 'version'>>();
    for (const job of jobs) latest.set(originPlace(job), job);
    for (const job of latest.values()) await this.reads.recordOrigin(job, this.retentionMs);
  }

  private async each<T>(records: readonly T[], write: (transaction: StoreTransaction, record: T) => void): Promise<ImportCounts> {
    const counts: ImportCounts = { copied: 0, skipped: 0 };
    for (const record of records) {
      const transaction = new StoreTransaction(this.reads.table, this.retentionMs);
      write(transaction, record);
      try {
        await transaction.commit(this.reads.documents);
        counts.copied++;
      } catch (error) {
        if (!lostRace(error)) throw error;
        counts.skipped++;
      }
    }
    return counts;
  }
}
