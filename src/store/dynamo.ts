import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type {
  AdmitOptions,
  Admission,
  Claim,
  Completion,
  Deferral,
  FleetLimit,
  JobKey,
  JobRecord,
  JobStatus,
  LaunchFacts,
  NewJob,
  Rematch,
  RunnerRecord,
  Store,
} from './types.js';
import {
  INDEX,
  itemToJob,
  itemToRunner,
  newJobItem,
  newRunnerItem,
  nextDeferral,
  publicJob,
  publicRunner,
  type JobItem,
  type RunnerItem,
} from './dynamo-items.js';
import { DynamoOperatorReads } from './dynamo-operator.js';
import { DynamoReads } from './dynamo-reads.js';
import { LostRace, STORE_RETRY, StoreTransaction, withRetries, type RetryPolicy } from './dynamo-transaction.js';

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  table: string;
  /** Finished jobs and released runners get `expiresAt` this long after they finish: DynamoDB's TTL deletes them. */
  retentionMs: number;
  retry?: RetryPolicy;
}

const IN_FLIGHT: readonly JobStatus[] = ['launching', 'launched'];
const isActive = (runner: RunnerItem | undefined): runner is RunnerItem => runner !== undefined && runner.status !== 'released';

/**
 * The scale-out store: one DynamoDB table that any number of fleetbot replicas share. Each operation reads
 * what it decides on, then commits its decision in one transaction that holds only if what it read still
 * holds: every job and runner written is conditioned on its version, and a fleet's counter on the counts
 * the decision needs (under the limit to claim, full or behind checked jobs to wait). A commit that loses a
 * race is retried from a fresh read. So a fleet's cap is exact across replicas, and a job is admitted, and
 * claimed, once. Same semantics as SqliteStore, the reference (test/contract/store.test.ts runs both).
 *
 * No StoreRetention: finished records carry `expiresAt`, and the table's TTL deletes them.
 */
export class DynamoStore extends DynamoOperatorReads implements Store {
  private readonly retry: RetryPolicy;
  /** Orders jobs of this process received in the same millisecond. */
  private sequence = 0;

  constructor(private readonly options: DynamoStoreOptions) {
    super(new DynamoReads(options.client, options.table));
    this.retry = options.retry ?? STORE_RETRY;
  }

  private transaction(): StoreTransaction {
    return new StoreTransaction(this.options.table, this.options.retentionMs);
  }

  private commit(transaction: StoreTransaction): Promise<void> {
    return transaction.commit(this.reads.documents);
  }

  private newJob(job: NewJob, fleet: string | null, status: JobStatus, now: number): Omit<JobItem, 'version'> {
    this.sequence = (this.sequence + 1) % 1e10;
    return newJobItem(job, fleet, status, now, this.sequence);
  }

  /** Claims a runner for a job in `transaction`: the job is launching, a new runner takes a slot. */
  private claimInto(
    transaction: StoreTransaction,
    before: JobItem | undefined,
    job: Omit<JobItem, 'version'>,
    runnerName: string,
    now: number,
  ): Claim {
    const claimed = transaction.putJob(before, {
      ...job,
      status: 'launching',
      runnerName,
      launchAttempts: job.launchAttempts + 1,
      // A new claim starts the launch steps afresh: what an earlier, failed, launch recorded is cleared.
      ...{ claimedAt: now, launchRequestedAt: null, launchedAt: null },
      updatedAt: now,
    });
    const runner = transaction.putRunner(undefined, newRunnerItem(runnerName, claimed, false, now));
    return { job: publicJob(claimed), runner: publicRunner(runner) };
  }

  async admitJob(
    job: NewJob,
    fleet: FleetLimit | undefined,
    runnerName: string,
    now: number,
    options: AdmitOptions = {},
  ): Promise<Admission> {
    const admission = await withRetries('admitJob', this.retry, () => this.tryAdmit(job, fleet, runnerName, now, options));
    if (admission.kind !== 'duplicate') await this.reads.recordOrigin(admission.job, this.options.retentionMs);
    return admission;
  }

  private async tryAdmit(
    job: NewJob,
    fleet: FleetLimit | undefined,
    runnerName: string,
    now: number,
    options: AdmitOptions,
  ): Promise<Admission> {
    const existing = await this.reads.job(job.ci, job.jobId);
    if (existing) return { kind: 'duplicate', job: publicJob(existing) };
    const transaction = this.transaction();
    const fresh = this.newJob(job, fleet?.name ?? null, fleet ? 'waiting' : 'unmatched', now);
    if (!fleet) {
      const unmatched = transaction.putJob(undefined, fresh);
      await this.commit(transaction);
      return { kind: 'unmatched', job: publicJob(unmatched) };
    }
    const counts = await this.reads.counter(fleet.name);
    // Jobs already waiting go first (unchecked ones do not count): a newcomer only jumps the queue when there is none.
    const pooled = options.useWarmRunner && counts.checked === 0 ? await this.poolInto(transaction, fresh, now) : undefined;
    if (pooled) {
      transaction.require(fleet.name, { kind: 'noCheckedBacklog' });
      await this.commit(transaction);
      return { kind: 'pooled', ...pooled };
    }
    const hasRoom = counts.active < fleet.maxRunners;
    if (counts.checked === 0 && hasRoom) {
      const claim = this.claimInto(transaction, undefined, fresh, runnerName, now);
      transaction.require(fleet.name, { kind: 'room', maxRunners: fleet.maxRunners });
      transaction.require(fleet.name, { kind: 'noCheckedBacklog' });
      await this.commit(transaction);
      return { kind: 'claimed', ...claim };
    }
    const waiting = transaction.putJob(undefined, fresh);
    if (hasRoom) {
      transaction.require(fleet.name, { kind: 'room', maxRunners: fleet.maxRunners });
      transaction.require(fleet.name, { kind: 'checkedBacklog' });
    } else {
      transaction.require(fleet.name, { kind: 'full', maxRunners: fleet.maxRunners });
    }
    await this.commit(transaction);
    // Counted when read: admissions of the same fleet committed meanwhile are not in it.
    return { kind: 'waiting', job: publicJob(waiting), position: counts.waiting + 1, fleetFull: !hasRoom };
  }

  /** The fleet's oldest idle warm runner becomes the job's, in `transaction`; its placeholder job closes. */
  private async poolInto(transaction: StoreTransaction, job: Omit<JobItem, 'version'>, now: number): Promise<Claim | undefined> {
    const listed = await this.reads.indexed({ name: INDEX.warmRunners.name, partition: INDEX.warmRunners.partition(job.fleet!) });
    for (const candidate of listed.map(itemToRunner)) {
      const warm = await this.reads.runner(candidate.name);
      if (!isActive(warm) || !warm.warm) continue;
      const placeholder = await this.reads.job(warm.ci, warm.jobId);
      if (placeholder) transaction.putJob(placeholder, { ...placeholder, status: 'completed', updatedAt: now });
      const runner = transaction.putRunner(warm, { ...warm, warm: false, jobId: job.jobId, updatedAt: now });
      const status: JobStatus = warm.status === 'running' ? 'launched' : 'launching';
      const launch = { claimedAt: now, launchRequestedAt: null, launchedAt: warm.launchedAt };
      const assigned = transaction.putJob(undefined, { ...job, status, runnerName: warm.name, ...launch, updatedAt: now });
      return { job: publicJob(assigned), runner: publicRunner(runner) };
    }
    return undefined;
  }

  async claimWarmRunner(fleet: FleetLimit, job: NewJob, runnerName: string, now: number): Promise<Claim | undefined> {
    return withRetries('claimWarmRunner', this.retry, async () => {
      const counts = await this.reads.counter(fleet.name);
      if (counts.active >= fleet.maxRunners || (await this.reads.job(job.ci, job.jobId))) return undefined;
      const transaction = this.transaction();
      const claimed = transaction.putJob(undefined, {
        ...this.newJob(job, fleet.name, 'launching', now),
        runnerName,
        launchAttempts: 1,
        claimedAt: now,
      });
      const runner = transaction.putRunner(undefined, newRunnerItem(runnerName, claimed, true, now));
      transaction.require(fleet.name, { kind: 'room', maxRunners: fleet.maxRunners });
      await this.commit(transaction);
      return { job: publicJob(claimed), runner: publicRunner(runner) };
    });
  }

  async warmRunners(fleet: string): Promise<RunnerRecord[]> {
    const listed = await this.reads.indexed({ name: INDEX.warmRunners.name, partition: INDEX.warmRunners.partition(fleet) });
    return listed
      .map(itemToRunner)
      .filter((runner) => isActive(runner) && runner.warm)
      .map(publicRunner);
  }

  async claimNextWaiting(
    fleet: FleetLimit,
    runnerNameFor: (job: JobRecord) => string,
    now: number,
    passOver: readonly JobKey[] = [],
  ): Promise<Claim | undefined> {
    return withRetries('claimNextWaiting', this.retry, async () => {
      if ((await this.reads.counter(fleet.name)).active >= fleet.maxRunners) return undefined;
      const entry = await this.reads.firstEntry(fleet.name, passOver);
      if (!entry) return undefined;
      const job = await this.reads.job(entry.ci, entry.jobId);
      // Claimed (or moved) between the two reads: read the backlog again.
      if (!job || job.status !== 'waiting' || job.fleet !== fleet.name) throw new LostRace(`backlog entry ${entry.order} moved`);
      const transaction = this.transaction();
      const claim = this.claimInto(transaction, job, job, runnerNameFor(publicJob(job)), now);
      transaction.require(fleet.name, { kind: 'room', maxRunners: fleet.maxRunners });
      await this.commit(transaction);
      return claim;
    });
  }

  async markRunnerLaunched(
    name: string,
    computeId: string,
    computeDetail: string,
    now: number,
    // Not kept here: a DynamoDB runner has no `launchSpec` (see RunnerRecord.launchSpec).
    _launchSpec?: FleetSpec,
    priced: LaunchFacts = {},
  ): Promise<void> {
    await withRetries('markRunnerLaunched', this.retry, async () => {
      const runner = await this.reads.runner(name);
      if (runner?.status !== 'launching') return;
      const transaction = this.transaction();
      const { hourlyPriceDollars = null, spot = null, requestedAt = null } = priced;
      const launched = { status: 'running' as const, computeId, computeDetail, launchedAt: now, hourlyPriceDollars, spot };
      transaction.putRunner(runner, { ...runner, ...launched, updatedAt: now });
      const job = await this.reads.job(runner.ci, runner.jobId);
      if (job?.status === 'launching') {
        transaction.putJob(job, { ...job, status: 'launched', launchRequestedAt: requestedAt, launchedAt: now, updatedAt: now });
      }
      await this.commit(transaction);
    });
  }

  async markCredentialIssued(name: string, ciRunnerId: string | null, now: number): Promise<void> {
    await withRetries('markCredentialIssued', this.retry, async () => {
      const runner = await this.reads.runner(name);
      if (!runner) return;
      const transaction = this.transaction();
      transaction.putRunner(runner, { ...runner, credentialIssued: true, ciRunnerId, updatedAt: now });
      await this.commit(transaction);
    });
  }

  async releaseRunner(name: string, reason: string, options: { requeueJob: boolean }, now: number): Promise<RunnerRecord | undefined> {
    return withRetries('releaseRunner', this.retry, async () => {
      const runner = await this.reads.runner(name);
      if (!isActive(runner)) return undefined;
      const transaction = this.transaction();
      transaction.putRunner(runner, { ...runner, status: 'released', releasedReason: reason, updatedAt: now });
      const job = await this.reads.job(runner.ci, runner.jobId);
      // A warm runner's placeholder job is nobody's to run again: the pool tops itself up instead.
      if (job && runner.warm) {
        transaction.putJob(job, { ...job, status: 'completed', updatedAt: now });
      } else if (job && options.requeueJob && IN_FLIGHT.includes(job.status)) {
        transaction.putJob(job, { ...job, status: 'waiting', uncheckedSince: null, uncheckedReported: false, updatedAt: now });
      }
      await this.commit(transaction);
      return publicRunner(runner);
    });
  }

  async deferUncheckedJob(claim: Claim, reason: string, reportAfterMs: number, now: number): Promise<Deferral | undefined> {
    return withRetries('deferUncheckedJob', this.retry, async () => {
      const job = await this.reads.job(claim.job.ci, claim.job.jobId);
      const runner = await this.reads.runner(claim.runner.name);
      if (!job || !isActive(runner)) return undefined;
      const transaction = this.transaction();
      transaction.putRunner(runner, { ...runner, status: 'released', releasedReason: reason, updatedAt: now });
      const deferral = job.status === 'launching' ? nextDeferral(job, reportAfterMs, now) : undefined;
      if (deferral) {
        transaction.putJob(job, {
          ...job,
          status: 'waiting',
          uncheckedSince: deferral.uncheckedSince,
          uncheckedReported: job.uncheckedReported || deferral.report,
          // A claim whose check failed launched nothing: it is not counted as a launch attempt.
          launchAttempts: job.launchAttempts - 1,
          updatedAt: now,
        });
      }
      await this.commit(transaction);
      return deferral;
    });
  }

  async abandonClaim(claim: Claim, reason: string, now: number): Promise<void> {
    await withRetries('abandonClaim', this.retry, async () => {
      const runner = await this.reads.runner(claim.runner.name);
      const job = await this.reads.job(claim.job.ci, claim.job.jobId);
      const transaction = this.transaction();
      if (isActive(runner)) transaction.putRunner(runner, { ...runner, status: 'released', releasedReason: reason, updatedAt: now });
      if (job) transaction.putJob(job, { ...job, status: 'abandoned', updatedAt: now });
      await this.commit(transaction);
    });
  }

  async abandonWaitingJobs(fleet: string, now: number): Promise<JobRecord[]> {
    const abandoned: JobRecord[] = [];
    for (const entry of await this.reads.backlog(fleet)) {
      const job = await withRetries('abandonWaitingJobs', this.retry, async () => {
        const waiting = await this.reads.job(entry.ci, entry.jobId);
        if (waiting?.status !== 'waiting' || waiting.fleet !== fleet) return undefined;
        const transaction = this.transaction();
        transaction.putJob(waiting, { ...waiting, status: 'abandoned', updatedAt: now });
        await this.commit(transaction);
        return publicJob(waiting);
      });
      if (job) abandoned.push(job);
    }
    return abandoned;
  }

  async completeJob(
    ci: CiSystem,
    jobId: string,
    runnerName: string | undefined,
    now: number,
    mayRelease: (runnerJob: JobRecord | undefined, completedJob: JobRecord | undefined) => boolean = () => true,
  ): Promise<Completion> {
    return withRetries('completeJob', this.retry, async (): Promise<Completion> => {
      const before = await this.reads.job(ci, jobId);
      const job = before && publicJob(before);
      const transaction = this.transaction();
      const completedAt = before?.completedAt ?? now;
      const completed = before && transaction.putJob(before, { ...before, status: 'completed', completedAt, updatedAt: now });
      const runner = runnerName ? await this.reads.runner(runnerName) : undefined;
      if (!isActive(runner)) {
        await this.commit(transaction);
        return { job };
      }
      const ownJob = runner.ci === ci && runner.jobId === jobId ? completed : await this.reads.job(runner.ci, runner.jobId);
      // A completion from another CI system (or, through the predicate, another owner) never frees a runner.
      if (runner.ci !== ci || !mayRelease(ownJob && publicJob(ownJob), job)) {
        await this.commit(transaction);
        return { job, refusedRunner: publicRunner(runner) };
      }
      transaction.putRunner(runner, { ...runner, status: 'released', releasedReason: 'job completed', updatedAt: now });
      const requeued = runner.jobId === jobId ? undefined : this.freeJobInto(transaction, runner, ownJob, now);
      await this.commit(transaction);
      return { job, releasedRunner: publicRunner(runner), requeuedJob: requeued && publicJob(requeued) };
    });
  }

  /**
   * The released runner ran another job than its own. Its own job, if it has not started elsewhere,
   * waits again at its old place (its backlog order is kept); a warm runner's placeholder closes.
   */
  private freeJobInto(transaction: StoreTransaction, runner: RunnerItem, own: JobItem | undefined, now: number): JobItem | undefined {
    if (!own) return undefined;
    if (runner.warm) {
      transaction.putJob(own, { ...own, status: 'completed', updatedAt: now });
      return undefined;
    }
    if (own.runnerName !== runner.name || !IN_FLIGHT.includes(own.status) || own.startedAt !== null) return undefined;
    return transaction.putJob(own, { ...own, status: 'waiting', uncheckedSince: null, uncheckedReported: false, updatedAt: now });
  }

  async requeueStrandedJobs(now: number): Promise<JobRecord[]> {
    const requeued: JobRecord[] = [];
    const inFlight = (await this.reads.indexed(INDEX.inFlightJobs)).map(itemToJob);
    for (const listed of inFlight.filter((job) => job.startedAt === null && job.runnerName !== null)) {
      const job = await withRetries('requeueStrandedJobs', this.retry, async () => {
        const runner = await this.reads.runner(listed.runnerName!);
        if (!runner || runner.status !== 'released') return undefined;
        const transaction = this.transaction();
        const freed = this.freeJobInto(transaction, runner, await this.reads.job(runner.ci, runner.jobId), now);
        await this.commit(transaction);
        return freed;
      });
      if (job) requeued.push(publicJob(job));
    }
    return requeued;
  }

  async rematchWaitingJobs(knownFleets: readonly string[], match: (job: JobRecord) => string | undefined, now: number): Promise<Rematch[]> {
    const removed = (await this.reads.counters()).filter((counter) => counter.waiting > 0 && !knownFleets.includes(counter.fleet));
    const entries = (await Promise.all(removed.map((counter) => this.reads.backlog(counter.fleet)))).flat();
    entries.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
    const rematched: Rematch[] = [];
    for (const entry of entries) {
      const result = await withRetries('rematchWaitingJobs', this.retry, async (): Promise<Rematch | undefined> => {
        const job = await this.reads.job(entry.ci, entry.jobId);
        if (job?.status !== 'waiting' || job.fleet !== entry.fleet) return undefined;
        const fleet = match(publicJob(job));
        const transaction = this.transaction();
        // The job keeps its order, and so its arrival place in its new fleet's backlog.
        transaction.putJob(job, { ...job, fleet: fleet ?? null, status: fleet ? 'waiting' : 'unmatched', updatedAt: now });
        await this.commit(transaction);
        return { job: publicJob(job), fleet };
      });
      if (result) rematched.push(result);
    }
    return rematched;
  }

  async markJobStarted(ci: CiSystem, jobId: string, startedAt: number, now: number): Promise<JobRecord | undefined> {
    return withRetries('markJobStarted', this.retry, async () => {
      const job = await this.reads.job(ci, jobId);
      if (!job) return undefined;
      if (job.startedAt === null) {
        const transaction = this.transaction();
        transaction.putJob(job, { ...job, startedAt, updatedAt: now });
        await this.commit(transaction);
      }
      return publicJob(job);
    });
  }

  async getJob(ci: CiSystem, jobId: string): Promise<JobRecord | undefined> {
    const job = await this.reads.job(ci, jobId);
    return job && publicJob(job);
  }

  async getRunner(name: string): Promise<RunnerRecord | undefined> {
    const runner = await this.reads.runner(name);
    return runner && publicRunner(runner);
  }

  async activeRunners(): Promise<RunnerRecord[]> {
    return (await this.reads.activeRunners()).map(publicRunner);
  }

  async jobOrigins(since: number): Promise<JobRecord[]> {
    return (await this.reads.jobOrigins(since)).map(publicJob);
  }

  /** The DynamoDB client is the app's, shared with its other uses: it is not closed here. */
  async close(): Promise<void> {}
}
