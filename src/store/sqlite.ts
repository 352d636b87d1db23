import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type {
  AdmitOptions,
  Admission,
  Claim,
  Completion,
  Deferral,
  FleetCounts,
  FleetLimit,
  JobFilter,
  JobKey,
  JobRecord,
  JobStatus,
  LaunchFacts,
  NewJob,
  Rematch,
  RunnerFilter,
  RunnerRecord,
  Store,
  StoreRetention,
  PrunedRows,
  TaskPass,
} from './types.js';
import { SqliteDeliveryLog } from './sqlite-deliveries.js';
import { SqliteIssueOpsStore } from './sqlite-issueops.js';
import { SqliteLease } from './sqlite-lease.js';
import { SqliteOperatorReads } from './sqlite-operator.js';
import { toJob, toRunner } from './sqlite-rows.js';
import { MIGRATIONS, prepareAll, SCHEMA_VERSION, STATEMENTS, type Prepared, type RunnerRow } from './sqlite-statements.js';

// Rows deleted per transaction when pruning (about 50 ms each on a 2-core machine).
const PRUNE_BATCH = 5_000;

/** The embedded default: one SQLite file, safe across restarts and shared by processes on one host. */
export class SqliteStore implements Store, StoreRetention {
  private readonly db: Database.Database;
  private readonly statements: Prepared<typeof STATEMENTS>;
  /** IssueOps requests, fleet locks and applied fleets, in the same file. */
  readonly issueOps: SqliteIssueOpsStore;
  /** Webhook delivery GUIDs and the recovery watermark, in the same file. */
  readonly deliveries: SqliteDeliveryLog;
  /** The periodic tasks' leases, in the same file: processes sharing it take turns. */
  readonly lease: SqliteLease;
  private readonly operator: SqliteOperatorReads;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // WAL survives a killed process without losing committed claims; the busy timeout lets a second
    // process wait for the write lock instead of failing.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.issueOps = new SqliteIssueOpsStore(this.db);
    this.deliveries = new SqliteDeliveryLog(this.db);
    this.lease = new SqliteLease(this.db);
    this.operator = new SqliteOperatorReads(this.db);
    this.statements = prepareAll(this.db, STATEMENTS);
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version === SCHEMA_VERSION) return;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database has schema version ${version}; this fleetbot knows up to ${SCHEMA_VERSION}`);
    }
    this.db
      .transaction(() => {
        for (const migration of MIGRATIONS.slice(version)) this.db.exec(migration);
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })
      .immediate();
  }

  /** Runs `body` holding the write lock from the first statement, so read-then-write is atomic. */
  private atomically<T>(body: () => T): T {
    return this.db.transaction(body).immediate();
  }

  private hasRoom(fleet: FleetLimit): boolean {
    return this.statements.countActive.get(fleet.name)!.n < fleet.maxRunners;
  }

  private claim(job: JobRecord, runnerName: string, now: number, warm = false): Claim {
    this.statements.claimJob.run({ ci: job.ci, jobId: job.jobId, runnerName, now });
    this.statements.insertRunner.run({
      name: runnerName,
      fleet: job.fleet,
      ci: job.ci,
      jobId: job.jobId,
      warm: warm ? 1 : 0,
      now,
    });
    return {
      job: this.job(job.ci, job.jobId)!,
      runner: toRunner(this.statements.getRunner.get(runnerName)!),
    };
  }

  private job(ci: CiSystem, jobId: string): JobRecord | undefined {
    const row = this.statements.getJob.get(ci, jobId);
    return row && toJob(row);
  }

  private insertJob(job: NewJob, fleet: string | null, status: JobStatus, now: number): boolean {
    return (
      this.statements.insertJob.run({
        ci: job.ci,
        jobId: job.jobId,
        fleet,
        status,
        labels: JSON.stringify(job.labels),
        origin: JSON.stringify(job.origin),
        queuedAt: job.queuedAt ?? null,
        now,
      }).changes > 0
    );
  }

  async admitJob(
    job: NewJob,
    fleet: FleetLimit | undefined,
    runnerName: string,
    now: number,
    options: AdmitOptions = {},
  ): Promise<Admission> {
    return this.atomically((): Admission => {
      const inserted = this.insertJob(job, fleet?.name ?? null, fleet ? 'waiting' : 'unmatched', now);
      const stored = this.job(job.ci, job.jobId)!;
      if (!inserted) return { kind: 'duplicate', job: stored };
      if (!fleet) return { kind: 'unmatched', job: stored };
      // Jobs already waiting go first: a newcomer only jumps the queue when there is none. Unchecked
      // jobs do not count: one whose check keeps failing must not hold up the jobs behind it.
      const backlog = this.statements.backlogPosition.get(fleet.name, job.ci, job.jobId)!;
      const waitingAhead = backlog.checked - 1;
      const warm = options.useWarmRunner && waitingAhead === 0 ? this.statements.warmRunnersOf.get(fleet.name) : undefined;
      if (warm) return { kind: 'pooled', ...this.giveWarmRunner(warm, stored, now) };
      const hasRoom = this.hasRoom(fleet);
      if (waitingAhead === 0 && hasRoom) {
        const { job: claimed, runner } = this.claim(stored, runnerName, now);
        return { kind: 'claimed', job: claimed, runner };
      }
      return { kind: 'waiting', job: stored, position: backlog.n, fleetFull: !hasRoom };
    });
  }

  /** The warm runner becomes the job's; the pool's placeholder job for it is closed. */
  private giveWarmRunner(warm: RunnerRow, job: JobRecord, now: number): Claim {
    this.statements.setJobStatus.run({ ci: warm.provider, jobId: warm.job_id, status: 'completed', now });
    this.statements.giveWarmRunner.run({ name: warm.name, jobId: job.jobId, now });
    const status: JobStatus = warm.status === 'running' ? 'launched' : 'launching';
    this.statements.assignJob.run({ ci: job.ci, jobId: job.jobId, status, runnerName: warm.name, now });
    return { job: this.job(job.ci, job.jobId)!, runner: toRunner(this.statements.getRunner.get(warm.name)!) };
  }

  async claimWarmRunner(fleet: FleetLimit, job: NewJob, runnerName: string, now: number): Promise<Claim | undefined> {
    return this.atomically(() => {
      if (!this.hasRoom(fleet) || !this.insertJob(job, fleet.name, 'launching', now)) return undefined;
      return this.claim(this.job(job.ci, job.jobId)!, runnerName, now, true);
    });
  }

  async warmRunners(fleet: string): Promise<RunnerRecord[]> {
    return this.statements.warmRunnersOf.all(fleet).map(toRunner);
  }

  async claimNextWaiting(
    fleet: FleetLimit,
    runnerNameFor: (job: JobRecord) => string,
    now: number,
    passOver: readonly JobKey[] = [],
  ): Promise<Claim | undefined> {
    const skipped = JSON.stringify(passOver.map((key) => [key.ci, key.jobId]));
    return this.atomically(() => {
      if (!this.hasRoom(fleet)) return undefined;
      const row = this.statements.oldestWaiting.get({ fleet: fleet.name, passOver: skipped });
      if (!row) return undefined;
      const job = toJob(row);
      return this.claim(job, runnerNameFor(job), now);
    });
  }

  async markRunnerLaunched(
    name: string,
    computeId: string,
    computeDetail: string,
    now: number,
    launchSpec?: FleetSpec,
    priced: LaunchFacts = {},
  ): Promise<void> {
    this.atomically(() => {
      const changed = this.statements.markLaunched.run({
        ...{ name, computeId, computeDetail, launchSpec: launchSpec ? JSON.stringify(launchSpec) : null, now },
        hourlyPriceDollars: priced.hourlyPriceDollars ?? null,
        spot: priced.spot === undefined ? null : Number(priced.spot),
      }).changes;
      const runner = this.statements.getRunner.get(name);
      const requestedAt = priced.requestedAt ?? null;
      if (changed && runner) this.statements.markJobLaunched.run({ ci: runner.provider, jobId: runner.job_id, requestedAt, now });
    });
  }

  async markCredentialIssued(name: string, ciRunnerId: string | null, now: number): Promise<void> {
    this.statements.markCredential.run({ name, ciRunnerId, now });
  }

  async releaseRunner(name: string, reason: string, options: { requeueJob: boolean }, now: number): Promise<RunnerRecord | undefined> {
    return this.atomically(() => {
      const before = this.statements.getRunner.get(name);
      if (!before || this.statements.releaseRunner.run({ name, reason, now }).changes === 0) return undefined;
      // A warm runner's placeholder job is nobody's to run again: the pool tops itself up instead.
      if (before.warm === 1) {
        this.statements.setJobStatus.run({ ci: before.provider, jobId: before.job_id, status: 'completed', now });
      } else if (options.requeueJob) {
        this.statements.requeueJob.run({ ci: before.provider, jobId: before.job_id, now });
      }
      return toRunner(before);
    });
  }

  async deferUncheckedJob(claim: Claim, reason: string, reportAfterMs: number, now: number): Promise<Deferral | undefined> {
    return this.atomically(() => {
      const { ci, jobId } = claim.job;
      const before = this.statements.getJob.get(ci, jobId);
      if (!before || this.statements.releaseRunner.run({ name: claim.runner.name, reason, now }).changes === 0) return undefined;
      const uncheckedSince = before.unchecked_since ?? now;
      const report = before.unchecked_reported === 0 && now - uncheckedSince > reportAfterMs;
      const reported = before.unchecked_reported === 1 || report ? 1 : 0;
      if (this.statements.requeueUnchecked.run({ ci, jobId, uncheckedSince, reported, now }).changes === 0) return undefined;
      return { uncheckedSince, report };
    });
  }

  async abandonClaim(claim: Claim, reason: string, now: number): Promise<void> {
    this.atomically(() => {
      this.statements.releaseRunner.run({ name: claim.runner.name, reason, now });
      this.statements.setJobStatus.run({ ci: claim.job.ci, jobId: claim.job.jobId, status: 'abandoned', now });
    });
  }

  async abandonWaitingJobs(fleet: string, now: number): Promise<JobRecord[]> {
    return this.atomically(() => {
      const waiting = this.statements.waitingJobsOf.all(fleet).map(toJob);
      for (const job of waiting) {
        this.statements.setJobStatus.run({ ci: job.ci, jobId: job.jobId, status: 'abandoned', now });
      }
      return waiting;
    });
  }

  async completeJob(
    ci: CiSystem,
    jobId: string,
    runnerName: string | undefined,
    now: number,
    mayRelease: (runnerJob: JobRecord | undefined, completedJob: JobRecord | undefined) => boolean = () => true,
  ): Promise<Completion> {
    return this.atomically((): Completion => {
      const job = this.job(ci, jobId);
      if (job) this.statements.completeJob.run({ ci, jobId, now });
      const row = runnerName ? this.statements.getRunner.get(runnerName) : undefined;
      if (!row || row.status === 'released') return { job };
      const runner = toRunner(row);
      // A completion from another CI system (or, through the predicate, another owner) never frees a runner.
      if (runner.ci !== ci || !mayRelease(this.job(runner.ci, runner.jobId), job)) return { job, refusedRunner: runner };
      this.statements.releaseRunner.run({ name: runner.name, reason: 'job completed', now });
      const stolenFrom = runner.jobId === jobId ? undefined : this.freeJobOf(row, now);
      return { job, releasedRunner: runner, requeuedJob: stolenFrom };
    });
  }

  /**
   * The released runner ran another job than its own. Its own job, if it has not started elsewhere,
   * waits again at its old place (the backlog is in arrival order); a warm runner's placeholder closes.
   */
  private freeJobOf(runner: RunnerRow, now: number): JobRecord | undefined {
    const key = { ci: runner.provider, jobId: runner.job_id, now };
    if (runner.warm === 1) {
      this.statements.setJobStatus.run({ ...key, status: 'completed' });
      return undefined;
    }
    if (this.statements.requeueUnstarted.run({ ...key, runnerName: runner.name }).changes === 0) return undefined;
    return this.job(runner.provider as CiSystem, runner.job_id);
  }

  async requeueStrandedJobs(now: number): Promise<JobRecord[]> {
    return this.atomically(() => {
      const requeued: JobRecord[] = [];
      for (const row of this.statements.strandedJobs.all()) {
        const runner = this.statements.getRunner.get(row.runner_name!)!;
        const job = this.freeJobOf(runner, now);
        if (job) requeued.push(job);
      }
      return requeued;
    });
  }

  async rematchWaitingJobs(knownFleets: readonly string[], match: (job: JobRecord) => string | undefined, now: number): Promise<Rematch[]> {
    return this.atomically(() =>
      this.statements.waitingOfUnknownFleets.all(JSON.stringify(knownFleets)).map((row): Rematch => {
        const job = toJob(row);
        const fleet = match(job);
        this.statements.rematchWaiting.run({
          ci: job.ci,
          jobId: job.jobId,
          fleet: fleet ?? null,
          status: fleet ? 'waiting' : 'unmatched',
          now,
        });
        return { job, fleet };
      }),
    );
  }

  async markJobStarted(ci: CiSystem, jobId: string, startedAt: number, now: number): Promise<JobRecord | undefined> {
    return this.atomically(() => {
      const before = this.job(ci, jobId);
      if (before) this.statements.markJobStarted.run({ ci, jobId, startedAt, now });
      return before;
    });
  }

  async getJob(ci: CiSystem, jobId: string): Promise<JobRecord | undefined> {
    return this.job(ci, jobId);
  }

  async getRunner(name: string): Promise<RunnerRecord | undefined> {
    const row = this.statements.getRunner.get(name);
    return row && toRunner(row);
  }

  async activeRunners(): Promise<RunnerRecord[]> {
    return this.statements.activeRunners.all().map(toRunner);
  }

  async jobOrigins(since: number): Promise<JobRecord[]> {
    return this.statements.jobOrigins.all(since).map(toJob);
  }

  async fleetCounts(): Promise<Map<string, FleetCounts>> {
    const counts = new Map<string, FleetCounts>();
    const entry = (fleet: string) => {
      let value = counts.get(fleet);
      if (!value) counts.set(fleet, (value = { active: 0, waiting: 0 }));
      return value;
    };
    for (const { fleet, n } of this.statements.activeCounts.all()) entry(fleet).active = n;
    for (const { fleet, n } of this.statements.waitingCounts.all()) entry(fleet).waiting = n;
    return counts;
  }

  async setFleetDrained(fleet: string, drained: boolean, now: number): Promise<boolean> {
    return this.operator.setFleetDrained(fleet, drained, now);
  }

  async drainedFleets(): Promise<Set<string>> {
    return this.operator.drainedFleets();
  }

  async recordTaskPass(pass: TaskPass): Promise<void> {
    this.operator.recordTaskPass(pass);
  }

  async taskPasses(): Promise<TaskPass[]> {
    return this.operator.taskPasses();
  }

  async listJobs(filter: JobFilter): Promise<JobRecord[]> {
    return this.operator.listJobs(filter);
  }

  async listRunners(filter: RunnerFilter): Promise<RunnerRecord[]> {
    return this.operator.listRunners(filter);
  }

  async countJobsByStatus(): Promise<Map<string, Map<JobStatus, number>>> {
    return this.operator.countJobsByStatus();
  }

  async pruneFinished(before: number): Promise<PrunedRows> {
    const pruned = { jobs: 0, runners: 0 };
    for (const [table, statement] of [
      ['jobs', this.statements.pruneJobs],
      ['runners', this.statements.pruneRunners],
    ] as const) {
      for (;;) {
        const { changes } = this.atomically(() => statement.run({ before, limit: PRUNE_BATCH }));
        pruned[table] += changes;
        if (changes < PRUNE_BATCH) break;
        // Lets webhooks in between batches of a large first prune.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return pruned;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
