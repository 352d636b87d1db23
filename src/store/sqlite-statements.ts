import type Database from 'better-sqlite3';
import { DELIVERIES_SCHEMA } from './sqlite-deliveries.js';
import { ISSUEOPS_SCHEMA } from './sqlite-issueops.js';
import { LEASES_SCHEMA } from './sqlite-lease.js';
import type { JobStatus, RunnerStatus } from './types.js';

/** The job store's SQLite schema, one migration per version, and its statements by name. */

// The backlog is ordered by rowid: arrival order, kept when a job is put back after a failed launch.
const JOBS_SCHEMA = `
CREATE TABLE jobs (
  provider TEXT NOT NULL,
  job_id TEXT NOT NULL,
  fleet TEXT,
  status TEXT NOT NULL,
  labels TEXT NOT NULL,
  origin TEXT NOT NULL,
  runner_name TEXT,
  launch_attempts INTEGER NOT NULL DEFAULT 0,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (provider, job_id)
);
CREATE INDEX jobs_by_fleet_status ON jobs (fleet, status);
CREATE TABLE runners (
  name TEXT PRIMARY KEY,
  fleet TEXT NOT NULL,
  provider TEXT NOT NULL,
  job_id TEXT NOT NULL,
  status TEXT NOT NULL,
  compute_id TEXT,
  compute_detail TEXT,
  credential_issued INTEGER NOT NULL DEFAULT 0,
  ci_runner_id TEXT,
  released_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX runners_by_fleet_status ON runners (fleet, status);
`;

const WARM_POOL_SCHEMA = `
ALTER TABLE runners ADD COLUMN warm INTEGER NOT NULL DEFAULT 0;
`;

// A backlog job whose still-queued check failed: since when its checks fail, and whether that was reported.
const UNCHECKED_JOBS_SCHEMA = `
ALTER TABLE jobs ADD COLUMN unchecked_since INTEGER;
ALTER TABLE jobs ADD COLUMN unchecked_reported INTEGER NOT NULL DEFAULT 0;
`;

// When a runner took the job, as the CI system said: with the job's receipt, its wait.
const JOB_STARTS_SCHEMA = `
ALTER TABLE jobs ADD COLUMN started_at INTEGER;
`;

// The reconciler's and the scheduler's questions by status (active runners, waiting and stranded jobs, counts),
// the runner sweep's by receipt, and retention's by status and age; without these each scans every row ever kept.
const STATUS_INDEXES_SCHEMA = `
CREATE INDEX IF NOT EXISTS runners_by_status ON runners (status, updated_at);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, updated_at);
CREATE INDEX IF NOT EXISTS jobs_by_receipt ON jobs (received_at);
`;

// The fleet's spec (JSON) a runner was launched with: what stops it once the fleet is gone from the fleets file.
export const LAUNCH_SPECS_SCHEMA = `
ALTER TABLE runners ADD COLUMN launch_spec TEXT;
`;

// The operator's view (issue 13): each job's timeline, what each runner cost to run, drained fleets, each
// periodic task's last pass, and the indexes the listings newest first (by fleet, or all) read.
const OPERATOR_SCHEMA = `
ALTER TABLE jobs ADD COLUMN queued_at INTEGER;
ALTER TABLE jobs ADD COLUMN claimed_at INTEGER;
ALTER TABLE jobs ADD COLUMN launch_requested_at INTEGER;
ALTER TABLE jobs ADD COLUMN launched_at INTEGER;
ALTER TABLE jobs ADD COLUMN completed_at INTEGER;
ALTER TABLE runners ADD COLUMN launched_at INTEGER;
ALTER TABLE runners ADD COLUMN released_at INTEGER;
ALTER TABLE runners ADD COLUMN hourly_price_dollars REAL;
ALTER TABLE runners ADD COLUMN spot INTEGER;
CREATE INDEX jobs_by_fleet_receipt ON jobs (fleet, received_at);
CREATE INDEX runners_by_creation ON runners (created_at);
CREATE INDEX runners_by_fleet_creation ON runners (fleet, created_at);
CREATE TABLE drained_fleets (fleet TEXT PRIMARY KEY, drained_at INTEGER NOT NULL);
CREATE TABLE task_passes (
  task TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  summary TEXT NOT NULL
);
`;

/**
 * The schema, one entry per version: a database at version n runs the entries after its nth. Append
 * only; an entry once released never changes. (The `provider` columns hold the job's CI system.)
 */
export const MIGRATIONS: readonly string[] = [
  JOBS_SCHEMA,
  ISSUEOPS_SCHEMA,
  WARM_POOL_SCHEMA,
  UNCHECKED_JOBS_SCHEMA,
  JOB_STARTS_SCHEMA,
  DELIVERIES_SCHEMA,
  STATUS_INDEXES_SCHEMA,
  LAUNCH_SPECS_SCHEMA,
  LEASES_SCHEMA,
  OPERATOR_SCHEMA,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface JobRow {
  provider: string;
  job_id: string;
  fleet: string | null;
  status: JobStatus;
  labels: string;
  origin: string;
  runner_name: string | null;
  launch_attempts: number;
  unchecked_since: number | null;
  unchecked_reported: number;
  received_at: number;
  started_at: number | null;
  queued_at: number | null;
  claimed_at: number | null;
  launch_requested_at: number | null;
  launched_at: number | null;
  completed_at: number | null;
  updated_at: number;
}

export interface RunnerRow {
  name: string;
  fleet: string;
  provider: string;
  job_id: string;
  status: RunnerStatus;
  compute_id: string | null;
  compute_detail: string | null;
  credential_issued: number;
  ci_runner_id: string | null;
  released_reason: string | null;
  warm: number;
  launch_spec: string | null;
  launched_at: number | null;
  released_at: number | null;
  hourly_price_dollars: number | null;
  spot: number | null;
  created_at: number;
  updated_at: number;
}

/** A statement's SQL with its parameter and row types, prepared once per store by `prepareAll`. */
interface Sql<Params extends unknown[] | object, Row> {
  text: string;
  /** Types only: never set. */
  types?: [Params, Row];
}

const sql = <Params extends unknown[] | object = unknown[], Row = unknown>(text: string): Sql<Params, Row> => ({ text });

export type Prepared<Table> = {
  [Name in keyof Table]: Table[Name] extends Sql<infer Params, infer Row> ? Database.Statement<Params, Row> : never;
};

export function prepareAll<Table extends Record<string, Sql<unknown[] | object, unknown>>>(
  db: Database.Database,
  table: Table,
): Prepared<Table> {
  return Object.fromEntries(Object.entries(table).map(([name, statement]) => [name, db.prepare(statement.text)])) as Prepared<Table>;
}

/** Every statement of the job store, by name. */
export const STATEMENTS = {
  waitingJobsOf: sql<[string], JobRow>("SELECT * FROM jobs WHERE fleet = ? AND status = 'waiting' ORDER BY rowid"),
  getJob: sql<[string, string], JobRow>('SELECT * FROM jobs WHERE provider = ? AND job_id = ?'),
  insertJob: sql(
    `INSERT INTO jobs (provider, job_id, fleet, status, labels, origin, queued_at, received_at, updated_at)
     VALUES (@ci, @jobId, @fleet, @status, @labels, @origin, @queuedAt, @now, @now)
     ON CONFLICT DO NOTHING`,
  ),
  setJobStatus: sql('UPDATE jobs SET status = @status, updated_at = @now WHERE provider = @ci AND job_id = @jobId'),
  completeJob: sql(
    `UPDATE jobs SET status = 'completed', completed_at = COALESCE(completed_at, @now), updated_at = @now
     WHERE provider = @ci AND job_id = @jobId`,
  ),
  // A new claim starts the job's launch steps afresh: what an earlier, failed, launch recorded is cleared.
  claimJob: sql(
    `UPDATE jobs SET status = 'launching', runner_name = @runnerName, launch_attempts = launch_attempts + 1,
     claimed_at = @now, launch_requested_at = NULL, launched_at = NULL, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId`,
  ),
  // Requeued after its check succeeded (or with no check at all): it is no longer unchecked.
  requeueJob: sql(
    `UPDATE jobs SET status = 'waiting', unchecked_since = NULL, unchecked_reported = 0, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND status IN ('launching', 'launched')`,
  ),
  // A claim whose check failed launched nothing: it is not counted as a launch attempt.
  requeueUnchecked: sql(
    `UPDATE jobs SET status = 'waiting', unchecked_since = @uncheckedSince, unchecked_reported = @reported,
     launch_attempts = launch_attempts - 1, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND status = 'launching'`,
  ),
  countActive: sql<[string], { n: number }>("SELECT COUNT(*) AS n FROM runners WHERE fleet = ? AND status IN ('launching', 'running')"),
  // `checked`: those of them not unchecked, which a newcomer waits behind.
  backlogPosition: sql<[string, string, string], { n: number; checked: number }>(
    `SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE unchecked_since IS NULL) AS checked
     FROM jobs WHERE fleet = ? AND status = 'waiting'
     AND rowid <= (SELECT rowid FROM jobs WHERE provider = ? AND job_id = ?)`,
  ),
  // `passOver` is a JSON array of [ci, jobId] pairs.
  oldestWaiting: sql<{ fleet: string; passOver: string }, JobRow>(
    `SELECT * FROM jobs WHERE fleet = @fleet AND status = 'waiting'
     AND NOT EXISTS (SELECT 1 FROM json_each(@passOver) AS skipped
                     WHERE skipped.value ->> 0 = jobs.provider AND skipped.value ->> 1 = jobs.job_id)
     ORDER BY rowid LIMIT 1`,
  ),
  insertRunner: sql(
    `INSERT INTO runners (name, fleet, provider, job_id, status, warm, created_at, updated_at)
     VALUES (@name, @fleet, @ci, @jobId, 'launching', @warm, @now, @now)`,
  ),
  warmRunnersOf: sql<[string], RunnerRow>(
    "SELECT * FROM runners WHERE fleet = ? AND warm = 1 AND status IN ('launching', 'running') ORDER BY created_at",
  ),
  giveWarmRunner: sql('UPDATE runners SET warm = 0, job_id = @jobId, updated_at = @now WHERE name = @name AND warm = 1'),
  // A warm runner's job: claimed now, launched when its runner was (null while it is still launching).
  assignJob: sql(
    `UPDATE jobs SET status = @status, runner_name = @runnerName, claimed_at = @now, launch_requested_at = NULL,
     launched_at = (SELECT launched_at FROM runners WHERE name = @runnerName), updated_at = @now
     WHERE provider = @ci AND job_id = @jobId`,
  ),
  getRunner: sql<[string], RunnerRow>('SELECT * FROM runners WHERE name = ?'),
  markLaunched: sql(
    `UPDATE runners SET status = 'running', compute_id = @computeId, compute_detail = @computeDetail,
     launch_spec = @launchSpec, launched_at = @now, hourly_price_dollars = @hourlyPriceDollars, spot = @spot,
     updated_at = @now WHERE name = @name AND status = 'launching'`,
  ),
  markJobStarted: sql(
    `UPDATE jobs SET started_at = @startedAt, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND started_at IS NULL`,
  ),
  markJobLaunched: sql(
    `UPDATE jobs SET status = 'launched', launch_requested_at = @requestedAt, launched_at = @now, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND status = 'launching'`,
  ),
  markCredential: sql('UPDATE runners SET credential_issued = 1, ci_runner_id = @ciRunnerId, updated_at = @now WHERE name = @name'),
  releaseRunner: sql(
    `UPDATE runners SET status = 'released', released_reason = @reason, released_at = @now, updated_at = @now
     WHERE name = @name AND status IN ('launching', 'running')`,
  ),
  // A job whose runner was released before the job started anywhere: it waits again, at its old place.
  requeueUnstarted: sql(
    `UPDATE jobs SET status = 'waiting', unchecked_since = NULL, unchecked_reported = 0, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND runner_name = @runnerName
     AND status IN ('launching', 'launched') AND started_at IS NULL`,
  ),
  strandedJobs: sql<[], JobRow>(
    `SELECT jobs.* FROM jobs JOIN runners ON runners.name = jobs.runner_name
     WHERE jobs.status IN ('launching', 'launched') AND jobs.started_at IS NULL AND runners.status = 'released'
     ORDER BY jobs.rowid`,
  ),
  // Waiting jobs of fleets no longer configured; `known` is a JSON array of fleet names.
  waitingOfUnknownFleets: sql<[string], JobRow>(
    `SELECT * FROM jobs WHERE status = 'waiting'
     AND fleet NOT IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
  ),
  // The job keeps its rowid, and so its arrival order in its new fleet's backlog.
  rematchWaiting: sql(
    `UPDATE jobs SET fleet = @fleet, status = @status, updated_at = @now
     WHERE provider = @ci AND job_id = @jobId AND status = 'waiting'`,
  ),
  activeRunners: sql<[], RunnerRow>("SELECT * FROM runners WHERE status IN ('launching', 'running') ORDER BY created_at"),
  // Two indexed halves rather than one OR, which SQLite answers by reading every job ever kept.
  jobOrigins: sql<[number], JobRow>(
    `SELECT * FROM jobs WHERE rowid IN (
       SELECT MAX(id) FROM (
         SELECT rowid AS id, provider, origin FROM jobs WHERE received_at >= ?
         UNION ALL
         SELECT jobs.rowid, jobs.provider, jobs.origin FROM runners
         JOIN jobs ON jobs.provider = runners.provider AND jobs.job_id = runners.job_id
         WHERE runners.status IN ('launching', 'running'))
       GROUP BY provider, origin)`,
  ),
  activeCounts: sql<[], { fleet: string; n: number }>(
    "SELECT fleet, COUNT(*) AS n FROM runners WHERE status IN ('launching', 'running') GROUP BY fleet",
  ),
  waitingCounts: sql<[], { fleet: string; n: number }>("SELECT fleet, COUNT(*) AS n FROM jobs WHERE status = 'waiting' GROUP BY fleet"),
  // Retention: a batch at a time, so that a first prune of a large store never holds the write lock for long.
  pruneJobs: sql<{ before: number; limit: number }>(
    `DELETE FROM jobs WHERE rowid IN (
       SELECT rowid FROM jobs WHERE status IN ('completed', 'abandoned', 'unmatched') AND updated_at < @before
       AND NOT EXISTS (SELECT 1 FROM runners WHERE runners.name = jobs.runner_name AND runners.status IN ('launching', 'running'))
       LIMIT @limit)`,
  ),
  pruneRunners: sql<{ before: number; limit: number }>(
    `DELETE FROM runners WHERE rowid IN (
       SELECT rowid FROM runners WHERE status = 'released' AND updated_at < @before LIMIT @limit)`,
  ),
};
