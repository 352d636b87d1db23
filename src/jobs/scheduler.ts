import { randomBytes } from 'node:crypto';
import type { Logger } from 'probot';
import type { CiCalls } from '../ci/router.js';
import type { Delivery, JobCompleted, JobSink, JobStarted } from '../ci/types.js';
import type { ComputeBackend } from '../compute/types.js';
import type { FleetRegistry } from '../fleets/registry.js';
import { isWarmPoolActive, type FleetSpec, type WarmPool } from '../fleets/spec.js';
import { errorFields } from '../errors.js';
import { CoalescedRuns } from '../coalesced-runs.js';
import { SerialLanes } from '../serial-lanes.js';
import { runnerParameterName } from '../secrets/ssm.js';
import type { CredentialStore } from '../secrets/types.js';
import { recordCompletion } from './completion.js';
import { DrainedFleets } from './drained-fleets.js';
import { WarmPoolOrigins } from './warm-pool-origins.js';
import type { Admission, Claim, JobKey, JobRecord, NewJob, RunnerRecord, Store } from '../store/types.js';

export interface SchedulerDeps {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  credentials: CredentialStore;
  ci: CiCalls;
  log: Logger;
  /**
   * How long a backlog job's still-queued check may keep failing before it is reported (once per job).
   * Default 2 minutes, as FLEETBOT_LAUNCH_TIMEOUT_SECONDS.
   */
  launchTimeoutMs?: number;
  now?: () => number;
}

const DEFAULT_LAUNCH_TIMEOUT_MS = 120_000;

/** `<fleet>-<job id>-<6 random chars>`: unique, and readable in the GitHub runner list. */
export function runnerNameFor(fleet: string, jobId: string): string {
  return `${fleet}-${jobId}-${randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6)}`;
}

/**
 * The job path, top to bottom: dedupe, match, claim, launch, credential, complete.
 *
 * A queued job is recorded and claimed synchronously (one atomic store operation), so the webhook is
 * answered as soon as the job is durable. The launch runs in the background and never waits for
 * GitHub: the task starts with only the name of its credential parameter and waits for it, while the
 * credential is created at the pace GitHub allows (Octokit's throttling spaces mutating requests).
 */
export class Scheduler implements JobSink {
  private readonly store: Store;
  private readonly fleets: FleetRegistry;
  private readonly compute: ComputeBackend;
  private readonly credentials: CredentialStore;
  private readonly ci: CiCalls;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly launchTimeoutMs: number;
  private readonly background = new Set<Promise<void>>();
  /** Runners with a launch or credential step in progress in this process. */
  private readonly busy = new Set<string>();
  private readonly credentialLanes = new SerialLanes();
  private readonly warmPools: WarmPoolOrigins;
  /** Fleets an operator drained (`fleetbot drain`, the dashboard): they get no new runners. */
  private readonly drained: DrainedFleets;
  private readonly warmPoolLanes = new SerialLanes();
  private readonly drains = new CoalescedRuns();

  constructor(deps: SchedulerDeps) {
    this.store = deps.store;
    this.fleets = deps.fleets;
    this.compute = deps.compute;
    this.credentials = deps.credentials;
    this.ci = deps.ci;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.launchTimeoutMs = deps.launchTimeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS;
    this.warmPools = new WarmPoolOrigins(this.ci, this.log);
    this.drained = new DrainedFleets(this.store, this.now);
  }

  /** Records a queued job once, and launches a runner for it or puts it in its fleet's backlog; logs carry the delivery id. */
  async jobQueued(job: NewJob, delivery: Delivery = {}): Promise<Admission> {
    const log = this.logFor(delivery);
    const fleet = this.fleets.match(job.ci, job.labels);
    const drained = fleet !== undefined && (await this.drained.has(fleet.name));
    // A drained fleet's jobs wait in its backlog: under a limit of none, the store claims nothing for them.
    const admission = await this.store.admitJob(
      job,
      fleet && { name: fleet.name, maxRunners: drained ? 0 : fleet.maxRunners },
      runnerNameFor(fleet?.name ?? 'none', job.jobId),
      this.now(),
      { useWarmRunner: fleet && !drained ? await this.warmPools.serves(fleet, job) : false },
    );
    const fields = { ci: job.ci, jobId: job.jobId, fleet: fleet?.name };
    switch (admission.kind) {
      case 'duplicate':
        log.debug(fields, `job already recorded (${admission.job.status}); redelivery ignored`);
        break;
      case 'unmatched':
        log.info({ ...fields, labels: job.labels }, `no fleet serves labels [${job.labels.join(', ')}]; nothing launched`);
        break;
      case 'claimed':
        this.startLaunch(fleet!, admission.runner, log);
        break;
      case 'pooled':
        log.info({ ...fields, runnerName: admission.runner.name }, 'job given to an idle warm runner');
        this.inBackground(
          this.topUpWarmPool(fleet!, log).then(() => undefined),
          log,
        );
        break;
      case 'waiting':
        log.info(
          { ...fields, position: admission.position, drained },
          drained ? 'the fleet is drained: the job waits in its backlog until the fleet is undrained' : "job waits in the fleet's backlog",
        );
        // Older jobs wait while a slot is free (a drain is under way or failed): drain now (a drained fleet has no free slot).
        if (!admission.fleetFull)
          this.inBackground(
            this.drainFleet(fleet!, log).then(() => undefined),
            log,
          );
        break;
    }
    return admission;
  }

  /**
   * A runner took the job: its start is recorded once, and the wait from queued at the CI system (or,
   * when the CI system does not say, from receipt here) to started is logged for jobs of our fleets.
   */
  async jobStarted(started: JobStarted, delivery: Delivery = {}): Promise<void> {
    const log = this.logFor(delivery);
    const startedAt = started.startedAt ?? this.now();
    const before = await this.store.markJobStarted(started.ci, started.jobId, startedAt, this.now());
    const fields = { ci: started.ci, jobId: started.jobId, runnerName: started.runnerName, fleet: before?.fleet ?? undefined };
    if (!before?.fleet || before.startedAt !== null) {
      log.debug(fields, before?.fleet ? 'job start already recorded; redelivery ignored' : 'a job no fleet of ours serves started');
      return;
    }
    const waitMs = Math.max(0, startedAt - (started.queuedAt ?? before.receivedAt));
    log.info({ ...fields, waitMs }, `job started after waiting ${(waitMs / 1000).toFixed(1)} s`);
  }

  /**
   * The job finished (or was cancelled): in one store operation, free the runner that ran it (if of the
   * same CI system and owner), drop the job from the backlog, and put the runner's own job back in line
   * if another job took the runner before it started (webhook order is not queue order). Stopping the
   * task, deleting the credential and draining follow in the background, so the webhook is answered at
   * once; if the process dies before they finish, the reconciler stops the task and drains the backlog.
   */
  async jobCompleted(completed: JobCompleted, delivery: Delivery = {}): Promise<void> {
    const log = this.logFor(delivery);
    const released = await recordCompletion(this.store, this.ci, completed, this.now(), log);
    if (released) this.inBackground(this.afterCompletion(released, log), log);
  }

  /** The scheduler's log, with the delivery's id on every line when the event came in one. */
  private logFor(delivery: Delivery): Logger {
    return delivery.deliveryId ? this.log.child({ deliveryId: delivery.deliveryId }) : this.log;
  }

  private async afterCompletion(runner: RunnerRecord, log: Logger): Promise<void> {
    await this.cleanUp(runner, 'job completed', log);
    const fleet = this.fleets.get(runner.fleet);
    if (!fleet) return;
    await this.drainFleet(fleet, log);
    await this.topUpWarmPool(fleet, log);
  }

  /**
   * Launches warm runners until the fleet's pool is full, while its schedule wants one, the fleet is
   * under its maximum and no job waits (a backlog takes free slots first). Returns how many it launched.
   */
  topUpWarmPool(fleet: FleetSpec, log: Logger = this.log): Promise<number> {
    // One top-up per fleet at a time: two that counted the same idle runners would overfill the pool.
    return this.warmPoolLanes.run(fleet.name, () => this.fillWarmPool(fleet, log));
  }

  private async fillWarmPool(fleet: FleetSpec, log: Logger): Promise<number> {
    const pool = await this.wantedWarmPool(fleet);
    if (!pool) return 0;
    if ((await this.store.fleetCounts()).get(fleet.name)?.waiting) return 0;
    const idle = (await this.store.warmRunners(fleet.name)).length;
    if (idle >= pool.count) return 0;
    const origin = await this.warmPools.of(fleet);
    let launched = 0;
    for (let missing = pool.count - idle; missing > 0; missing--) {
      const runnerName = runnerNameFor(fleet.name, 'warm');
      const placeholder = { ci: fleet.ci, jobId: `warm:${runnerName}`, labels: fleet.labels, origin };
      const claim = await this.store.claimWarmRunner(
        { name: fleet.name, maxRunners: fleet.maxRunners },
        placeholder,
        runnerName,
        this.now(),
      );
      if (!claim) break;
      this.startLaunch(fleet, claim.runner, log);
      launched++;
    }
    if (launched > 0) log.info({ fleet: fleet.name, launched, target: pool.count }, 'warm pool topped up');
    return launched;
  }

  /** Every fleet's warm pool, for the reconciler; one fleet failing does not stop the others. */
  async topUpWarmPools(): Promise<{ launched: number; errors: number }> {
    const result = { launched: 0, errors: 0 };
    for (const fleet of this.fleets.all()) {
      try {
        result.launched += await this.topUpWarmPool(fleet);
      } catch (error) {
        result.errors++;
        this.log.error({ fleet: fleet.name, err: errorFields(error) }, 'could not top up the warm pool');
      }
    }
    return result;
  }

  /** Whether the fleet's pool keeps the runner: it is among the oldest `count` idle warm runners, while the schedule wants them. */
  async keepsWarmRunner(fleet: FleetSpec, runner: RunnerRecord): Promise<boolean> {
    const pool = await this.wantedWarmPool(fleet);
    if (!pool) return false;
    const kept = (await this.store.warmRunners(fleet.name)).slice(0, pool.count);
    return kept.some((candidate) => candidate.name === runner.name);
  }

  /** The fleet's warm pool, if it wants runners now: within its schedule, and the fleet neither being deleted nor drained. */
  private async wantedWarmPool(fleet: FleetSpec): Promise<WarmPool | undefined> {
    const pool = fleet.warmRunners;
    if (!pool || this.fleets.isDraining(fleet.name) || !isWarmPoolActive(pool, new Date(this.now()))) return undefined;
    return (await this.drained.has(fleet.name)) ? undefined : pool;
  }

  /**
   * Launches backlog jobs, oldest first, while the fleet is under its maximum. Each job is checked with
   * the CI system first: one cancelled while it waited is closed instead of launched. A job that cannot
   * be checked keeps its place and is passed over until the next pass, which tries it first again; the
   * jobs behind it are served meanwhile. A fleet being deleted or drained launches nothing. Drains of a
   * fleet run one at a time: side by side they would only race each other for the same oldest job.
   */
  drainFleet(fleet: FleetSpec, log: Logger = this.log): Promise<number> {
    return this.drains.run(fleet.name, async () => {
      if (this.fleets.isDraining(fleet.name) || (await this.drained.has(fleet.name))) return 0;
      let launched = 0;
      const unchecked: JobKey[] = [];
      for (;;) {
        const claim = await this.store.claimNextWaiting(
          { name: fleet.name, maxRunners: fleet.maxRunners },
          (job) => runnerNameFor(fleet.name, job.jobId),
          this.now(),
          unchecked,
        );
        if (!claim) return launched;
        let queued: boolean;
        try {
          queued = await this.ci.isJobQueued(claim.job);
        } catch (error) {
          await this.deferUnchecked(claim, error, log);
          unchecked.push({ ci: claim.job.ci, jobId: claim.job.jobId });
          continue;
        }
        if (!queued) {
          await this.store.abandonClaim(claim, 'job no longer queued', this.now());
          log.info(this.fieldsOf(claim), 'backlog job is no longer queued; dropped');
          continue;
        }
        this.startLaunch(fleet, claim.runner, log);
        launched++;
      }
    });
  }

  /**
   * Puts a job whose check failed back at its place. Each failure is only debug: a check can fail for a
   * moment. Failures that outlast the launch timeout are a warning, once per job.
   */
  private async deferUnchecked(claim: Claim, error: unknown, log: Logger): Promise<void> {
    const deferral = await this.store.deferUncheckedJob(claim, 'job status unknown', this.launchTimeoutMs, this.now());
    const fields = { ...this.fieldsOf(claim), err: errorFields(error) };
    if (deferral?.report) {
      const uncheckedForMs = this.now() - deferral.uncheckedSince;
      log.warn(
        { ...fields, uncheckedForMs },
        `could not check the job for ${Math.round(uncheckedForMs / 1000)}s; ` +
          'it keeps its place in the backlog, and the jobs behind it are served',
      );
    } else {
      log.debug(fields, 'could not check the job; it keeps its place in the backlog, and the jobs behind it are served');
    }
  }

  /** A drain or undrain made here counts at once (elsewhere: DRAINED_FLEETS_CACHE_MS); an undrained fleet's backlog is served now. */
  async fleetDrainChanged(name: string, drained: boolean): Promise<void> {
    this.drained.forget();
    const fleet = this.fleets.get(name);
    if (!fleet || drained) return;
    await this.drainFleet(fleet);
    await this.topUpWarmPool(fleet);
  }

  /** Every fleet's backlog, for the reconciler. */
  async drainAll(): Promise<number> {
    return (await Promise.all(this.fleets.all().map((fleet) => this.drainFleet(fleet)))).reduce((sum, n) => sum + n, 0);
  }

  /** Whether this process is working on the runner right now (so the reconciler leaves it alone). */
  isBusy(runnerName: string): boolean {
    return this.busy.has(runnerName);
  }

  /** A runner stuck `launching` (the process died mid-launch, or a launch hung): try again. */
  retryLaunch(fleet: FleetSpec, runner: RunnerRecord): void {
    this.startLaunch(fleet, runner);
  }

  /** A running runner whose credential was never stored (the process died in between). */
  retryCredential(fleet: FleetSpec, runner: RunnerRecord): void {
    this.trackRunner(runner.name, () => this.issueCredential(fleet, runner, this.log), this.log);
  }

  /** Frees a runner's slot and removes what it left behind; with `requeueJob` its job waits again. */
  async releaseRunner(runner: RunnerRecord, reason: string, requeueJob: boolean): Promise<boolean> {
    const released = await this.store.releaseRunner(runner.name, reason, { requeueJob }, this.now());
    if (released) await this.cleanUp(released, reason);
    return released !== undefined;
  }

  /** Resolves when no launch or credential work started by this scheduler is still running. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private startLaunch(fleet: FleetSpec, runner: RunnerRecord, log: Logger = this.log): void {
    this.trackRunner(runner.name, () => this.launch(fleet, runner, log), log);
  }

  private trackRunner(runnerName: string, work: () => Promise<void>, log: Logger): void {
    if (this.busy.has(runnerName)) return;
    this.busy.add(runnerName);
    const tracked = work().finally(() => this.busy.delete(runnerName));
    this.inBackground(tracked, log);
  }

  private inBackground(work: Promise<void>, log: Logger = this.log): void {
    const tracked = work.catch((error: unknown) => {
      log.error({ err: errorFields(error) }, 'background work failed');
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  private async launch(fleet: FleetSpec, runner: RunnerRecord, log: Logger): Promise<void> {
    const fields = { fleet: fleet.name, jobId: runner.jobId, runnerName: runner.name };
    const started = this.now();
    try {
      const launched = await this.compute.launch(fleet, {
        runnerName: runner.name,
        jobId: runner.jobId,
        credentialParameter: runnerParameterName(runner.fleet, runner.name),
      });
      await this.store.markRunnerLaunched(runner.name, launched.computeId, launched.computeDetail, this.now(), fleet, {
        ...{ hourlyPriceDollars: launched.hourlyPriceDollars, spot: launched.spot },
        requestedAt: started,
      });
      log.info(
        {
          ...fields,
          computeId: launched.computeId,
          capacity: launched.computeDetail,
          // The app's own part of the job path: from the claim (at receipt, under the cap) to RunTask.
          claimToRunTaskMs: started - runner.createdAt,
          runTaskMs: this.now() - started,
        },
        'runner launched',
      );
    } catch (error) {
      await this.store.releaseRunner(runner.name, 'launch failed', { requeueJob: true }, this.now());
      log.error({ ...fields, err: errorFields(error) }, 'launch failed; the job is back in the backlog');
      return;
    }
    await this.issueCredential(fleet, runner, log);
  }

  /**
   * Asks the CI system for the runner's one-job credential, in the job's lane, and stores it for the
   * runner to fetch. A runner without a credential can never take a job, so failing here stops it and
   * requeues the job.
   */
  private async issueCredential(fleet: FleetSpec, runner: RunnerRecord, log: Logger): Promise<void> {
    const fields = { fleet: fleet.name, jobId: runner.jobId, runnerName: runner.name };
    const job = await this.store.getJob(runner.ci, runner.jobId);
    if (!job) {
      log.error(fields, "the runner's job is not in the store; releasing the runner");
      await this.releaseRunner(runner, 'job record missing', false);
      return;
    }
    await this.credentialLanes.run(this.ci.credentialLane(job), () => this.createCredential(fleet, runner, job, log));
  }

  private async createCredential(fleet: FleetSpec, runner: RunnerRecord, job: JobRecord, log: Logger): Promise<void> {
    const fields = { fleet: fleet.name, jobId: runner.jobId, runnerName: runner.name };
    if ((await this.store.getRunner(runner.name))?.status === 'released') {
      log.debug(fields, 'runner released while its credential waited; nothing asked of the CI system');
      return;
    }
    try {
      const credential = await this.ci.createRunnerCredential(job, runner, fleet);
      // The runner may have been released while GitHub paced the request; then nobody will read it.
      const current = await this.store.getRunner(runner.name);
      if (current?.status === 'released') {
        log.info(fields, 'runner released before its credential was ready; credential discarded');
        return;
      }
      await this.credentials.put(runner, credential.value);
      await this.store.markCredentialIssued(runner.name, credential.ciRunnerId ?? null, this.now());
      log.debug(fields, 'runner credential stored');
    } catch (error) {
      const current = await this.store.getRunner(runner.name);
      log.error({ ...fields, err: errorFields(error) }, 'no credential for the runner; stopping it and requeueing the job');
      if (current) await this.releaseRunner(current, 'credential failed', true);
    }
  }

  /**
   * Stops the runner's task if it still runs and deletes its credential; failures are logged, not thrown.
   * A runner whose fleet is gone from the fleets file is stopped with the spec it was launched with.
   */
  private async cleanUp(runner: RunnerRecord, reason: string, log: Logger = this.log): Promise<void> {
    const fleet = this.fleets.get(runner.fleet) ?? runner.launchSpec;
    const fields = { fleet: runner.fleet, jobId: runner.jobId, runnerName: runner.name };
    if (fleet && runner.computeId) {
      try {
        await this.compute.stop(fleet, runner.computeId, `fleetbot: ${reason}`);
      } catch (error) {
        log.warn({ ...fields, err: errorFields(error) }, 'could not stop the runner; the reconciler stops it on its next pass');
      }
    }
    try {
      await this.credentials.delete(runner);
    } catch (error) {
      log.warn({ ...fields, err: errorFields(error) }, 'could not delete the runner credential');
    }
  }

  private fieldsOf(claim: Claim): Record<string, string | null> {
    return { fleet: claim.runner.fleet, jobId: claim.job.jobId, runnerName: claim.runner.name };
  }
}
