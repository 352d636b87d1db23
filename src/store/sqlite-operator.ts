import type Database from 'better-sqlite3';
import { toJob, toRunner } from './sqlite-rows.js';
import type { JobRow, RunnerRow } from './sqlite-statements.js';
import {
  LIVE_JOB_STATUSES,
  type JobFilter,
  type JobRecord,
  type JobStatus,
  type RunnerFilter,
  type RunnerRecord,
  type TaskPass,
} from './types.js';

interface TaskPassRow {
  task: string;
  holder: string;
  started_at: number;
  finished_at: number;
  ok: number;
  summary: string;
}

const ACTIVE = "status IN ('launching', 'running')";

/** A listing's possible conditions, each with the one value that turns it on (undefined: not filtered on). */
type Where = [condition: string, value: Record<string, unknown>][];

/**
 * What the operator's view reads and sets in the SQLite store: drained fleets, the periodic tasks' last
 * passes, and the listings. A listing's SQL names only the filters given, so that SQLite picks the index
 * that serves them (by fleet and receipt, by receipt, by creation) instead of reading every row kept.
 */
export class SqliteOperatorReads {
  private readonly listings = new Map<string, Database.Statement>();
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      drain: db.prepare('INSERT INTO drained_fleets (fleet, drained_at) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      undrain: db.prepare('DELETE FROM drained_fleets WHERE fleet = ?'),
      drained: db.prepare<[], { fleet: string }>('SELECT fleet FROM drained_fleets'),
      // A pass that started before the one kept (a slow replica's, reported late) does not replace it.
      recordPass: db.prepare(
        `INSERT INTO task_passes (task, holder, started_at, finished_at, ok, summary)
         VALUES (@task, @holder, @startedAt, @finishedAt, @ok, @summary)
         ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, started_at = excluded.started_at,
           finished_at = excluded.finished_at, ok = excluded.ok, summary = excluded.summary
         WHERE excluded.started_at >= task_passes.started_at`,
      ),
      passes: db.prepare<[], TaskPassRow>('SELECT * FROM task_passes ORDER BY task'),
      liveCounts: db.prepare<[], { fleet: string; status: JobStatus; n: number }>(
        `SELECT COALESCE(fleet, '') AS fleet, status, COUNT(*) AS n FROM jobs
         WHERE status IN (${LIVE_JOB_STATUSES.map((status) => `'${status}'`).join(', ')}) GROUP BY fleet, status`,
      ),
    };
  }

  setFleetDrained(fleet: string, drained: boolean, now: number): boolean {
    return (drained ? this.statements.drain.run(fleet, now) : this.statements.undrain.run(fleet)).changes > 0;
  }

  drainedFleets(): Set<string> {
    return new Set(this.statements.drained.all().map((row) => row.fleet));
  }

  recordTaskPass(pass: TaskPass): void {
    this.statements.recordPass.run({ ...pass, ok: pass.ok ? 1 : 0 });
  }

  taskPasses(): TaskPass[] {
    return this.statements.passes.all().map((row) => ({
      task: row.task,
      holder: row.holder,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      ok: row.ok === 1,
      summary: row.summary,
    }));
  }

  listJobs(filter: JobFilter): JobRecord[] {
    const { fleet, ci, status, since, limit } = filter;
    const where: Where = [
      ['fleet = @fleet', { fleet }],
      ['provider = @ci', { ci }],
      ['status = @status', { status }],
      ['received_at >= @since', { since }],
    ];
    return (this.listing('jobs', where, 'received_at', limit) as JobRow[]).map(toJob);
  }

  listRunners(filter: RunnerFilter): RunnerRecord[] {
    const { fleet, active, limit } = filter;
    const where: Where = [
      ['fleet = @fleet', { fleet }],
      [active === false ? "status = 'released'" : ACTIVE, { active }],
    ];
    return (this.listing('runners', where, 'created_at', limit) as RunnerRow[]).map(toRunner);
  }

  countJobsByStatus(): Map<string, Map<JobStatus, number>> {
    const counts = new Map<string, Map<JobStatus, number>>();
    for (const { fleet, status, n } of this.statements.liveCounts.all()) {
      let byStatus = counts.get(fleet);
      if (!byStatus) counts.set(fleet, (byStatus = new Map()));
      byStatus.set(status, n);
    }
    return counts;
  }

  /**
   * Rows newest first (ties: the later row first), filtered by the conditions whose value is given; the
   * statement is prepared once per combination of filters.
   */
  private listing(table: 'jobs' | 'runners', where: Where, newest: string, limit: number): unknown[] {
    const given = where.filter(([, value]) => Object.values(value)[0] !== undefined);
    const text =
      `SELECT * FROM ${table}${given.length > 0 ? ` WHERE ${given.map(([condition]) => condition).join(' AND ')}` : ''} ` +
      `ORDER BY ${newest} DESC, rowid DESC LIMIT @limit`;
    let statement = this.listings.get(text);
    if (!statement) this.listings.set(text, (statement = this.db.prepare(text)));
    // Only the parameters the statement names: `active` is spelled out in its SQL.
    const params = Object.assign({ limit }, ...given.map(([condition, value]) => (condition.includes('@') ? value : {})));
    return statement.all(params);
  }
}
