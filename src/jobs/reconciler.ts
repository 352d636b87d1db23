import type { Logger } from 'probot';
import type { CiRouter } from '../ci/router.js';
import type { ComputeBackend, ComputeRunner, ComputeState } from '../compute/types.js';
import type { FleetRegistry } from '../fleets/registry.js';
import type { FleetSpec } from '../fleets/spec.js';
import { errorFields } from '../errors.js';
import type { CredentialStore, RunnerParameterStore } from '../secrets/types.js';
import type { JobRecord, RunnerRecord, Store } from '../store/types.js';
import type { Scheduler } from './scheduler.js';
import { timed } from '../timed.js';
import type { TaskLease } from '../lease-keeper.js';
import { PeriodicTask } from '../periodic-task.js';
import { repairBacklogs, type BacklogRepairs } from './backlog-repair.js';
import { RemovedFleetRunners } from './removed-fleets.js';

export const DEFAULT_ORPHAN_GRACE_MS = 5 * 60_000;
export const DEFAULT_STALE_PARAMETER_MS = 24 * 60 * 60_000;
export const DEFAULT_PARAMETER_SWEEP_INTERVAL_MS = 60 * 60_000;
export const DEFAULT_RUNNER_SWEEP_INTERVAL_MS = 2 * 60_000;
// Runners are looked for where jobs came from in this window (and wherever an active runner's job came from).
const RUNNER_SCOPE_WINDOW_MS = 24 * 60 * 60_000;
// Fleets reconciled at once: a pass waits mostly on AWS, but every fleet at once would be a burst of
// Describe calls against the account's rate limits.
const FLEETS_AT_ONCE = 4;
// How fleetbot names runners (see runnerNameFor): `<fleet>-<job>-<6 random>`.
const RUNNER_NAME = /^[a-z0-9][a-z0-9-]{0,39}-.+-[0-9a-z]{6}$/;
// GitHub paces unregistering (a write a second): leftovers go over several sweeps, so none holds up a pass's recovery for minutes.
export const OFFLINE_DELETIONS_PER_SWEEP = 20;

/** What the reconciler asks of the CI systems about the runners registered with them. */
export type RegisteredRunnerCalls = Pick<CiRouter, 'runnerScope' | 'listRegisteredRunners' | 'deleteRegisteredRunner' | 'isJobQueued'>;

export interface ReconcilerDeps {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  scheduler: Scheduler;
  /** Runner credentials, deleted when a runner of a removed fleet is stopped. */
  credentials: CredentialStore;
  log: Logger;
  /** How long a runner may stay `launching` with nobody working on it before it is launched again. */
  launchTimeoutMs: number;
  /** The CI systems' runner registrations to sweep; without it registered runners are left alone. */
  ci?: RegisteredRunnerCalls;
  /** The least time between two sweeps of registered runners (one listing per organisation or repository). Default 2 minutes. */
  runnerSweepIntervalMs?: number;
  /** Runner credentials to sweep; without it old parameters are left alone. */
  runnerParameters?: RunnerParameterStore;
  /**
   * How long a task or instance with no live runner record may run, from the pass that first saw it,
   * before it is stopped. Default 5 minutes.
   */
  orphanGraceMs?: number;
  /** A runner parameter this much older than its last write, with no active runner, is deleted. Default 24 hours. */
  staleParameterMs?: number;
  /** The least time between two sweeps of runner parameters (listing them all is slow). Default 1 hour. */
  parameterSweepIntervalMs?: number;
  /** With it, passes run only while this replica holds the lease (warm pools included: they are topped up in passes). */
  lease?: TaskLease;
  /** Hears how long each pass took, failed ones included (the app's metrics). */
  observePass?: (durationMs: number) => void;
  now?: () => number;
}

export interface ReconcileSummary extends BacklogRepairs {
  released: number;
  relaunched: number;
  adopted: number;
  credentialsRetried: number;
  orphansStopped: number;
  parametersDeleted: number;
  /** Registrations of offline runners with no compute behind them, deleted at the CI system. */
  offlineRunnersDeleted: number;
  /** Runners idle past their fleet's idle timeout whose job another runner took, removed. */
  idleRunnersRemoved: number;
  backlogLaunched: number;
  /** Runners launched to fill warm pools. */
  warmLaunched: number;
  /** Runners of fleets no longer configured, unregistered, stopped and released. */
  removedFleetRunnersStopped: number;
  errors: number;
}

/** Why a task or instance in the cloud is (or is not) ours to keep. */
type Ownership = 'live' | 'released' | 'orphan';

/**
 * Heals what webhooks miss. Each pass compares the store with the cloud, fleet by fleet:
 * - a runner whose task has stopped or vanished → its slot is freed and its job waits again (the
 *   backlog drain asks GitHub whether it is still queued before launching anything);
 * - a runner stuck `launching` → adopted if its task exists after all, launched again otherwise;
 * - a running runner without its credential → the credential is issued again;
 * - a task or instance of ours whose runner was already released → stopped at once;
 * - one with no live runner record (unknown runner, no runner tag, or a second task for a runner that
 *   has its own) → stopped once it has been seen for `orphanGraceMs`;
 * - tasks the scheduler is working on are never stopped;
 * - a runner of a fleet no longer configured → unregistered, stopped and released, unless busy at its
 *   CI system (see RemovedFleetRunners; this also runs whenever the registry adds or removes a fleet);
 * then, at most every `runnerSweepIntervalMs`, the runners registered with the CI systems are swept
 * (see sweepRegisteredRunners); at most every `parameterSweepIntervalMs`, runner parameters older
 * than `staleParameterMs` whose runner is not active are deleted; every backlog is drained while
 * capacity allows (first, a job launched for whose runner was released before it started goes back in
 * line, and the waiting jobs of fleets no longer configured are matched again or dropped as unmatched),
 * and every warm pool is topped up while its schedule wants it.
 */
export class Reconciler {
  private readonly task: PeriodicTask<ReconcileSummary>;
  private readonly now: () => number;
  private readonly orphanGraceMs: number;
  private readonly staleParameterMs: number;
  private readonly parameterSweepIntervalMs: number;
  private readonly runnerSweepIntervalMs: number;
  private lastRunnerSweepAt: number | undefined;
  /** Runners the CI systems reported busy at the last sweep: never stopped, even when nobody owns them. */
  private busyAtCi = new Set<string>();
  /**
   * When each orphan was first seen, by compute id. Kept in memory only: a restart starts every grace
   * period again, which delays a stop but never hastens one.
   */
  private readonly orphansSeen = new Map<string, { fleet: string; firstSeenAt: number }>();
  private lastParameterSweepAt: number | undefined;
  private readonly removedFleets: RemovedFleetRunners;
  private stopWatchingFleets: (() => void) | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.task = new PeriodicTask(
      () => timed(() => this.reconcile(), deps.observePass),
      (error) => deps.log.error({ err: errorFields(error) }, 'reconcile pass failed'),
      deps.lease,
    );
    this.now = deps.now ?? Date.now;
    this.orphanGraceMs = deps.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    this.staleParameterMs = deps.staleParameterMs ?? DEFAULT_STALE_PARAMETER_MS;
    this.parameterSweepIntervalMs = deps.parameterSweepIntervalMs ?? DEFAULT_PARAMETER_SWEEP_INTERVAL_MS;
    this.runnerSweepIntervalMs = deps.runnerSweepIntervalMs ?? DEFAULT_RUNNER_SWEEP_INTERVAL_MS;
    this.removedFleets = new RemovedFleetRunners({ ...deps, isBusy: (name) => deps.scheduler.isBusy(name), now: this.now });
  }

  /** Runs a pass now and then every `intervalMs`, never two at once; and a look at removed fleets' runners when fleets change. */
  start(intervalMs: number): void {
    this.task.start(intervalMs);
    this.stopWatchingFleets ??= this.deps.fleets.onChange(() => void this.removedFleets.look());
  }

  async stop(): Promise<void> {
    this.stopWatchingFleets?.();
    this.stopWatchingFleets = undefined;
    await this.task.stop();
    await this.removedFleets.idle();
  }

  /** One pass; a pass already under way is joined rather than doubled. */
  pass(): Promise<ReconcileSummary> {
    return this.task.pass();
  }

  private async reconcile(): Promise<ReconcileSummary> {
    const { store, fleets, scheduler, log } = this.deps;
    const summary = emptySummary();
    // First, so that no runner the CI system reports busy is stopped below.
    await this.sweepRegisteredRunners(summary);
    const active = await store.activeRunners();
    const activeByName = new Map(active.map((runner) => [runner.name, runner]));
    await inParallel(fleets.all(), FLEETS_AT_ONCE, (fleet) => this.reconcileFleet(fleet, active, activeByName, summary));
    this.forgetOrphansOfRemovedFleets();
    // Before the backlogs are repaired: the job of a runner retired here, if it never started, waits again.
    const removed = await this.removedFleets.look();
    summary.removedFleetRunnersStopped = removed.stopped;
    summary.errors += removed.errors;
    try {
      summary.parametersDeleted = await this.sweepRunnerParameters(activeByName);
    } catch (error) {
      summary.errors++;
      log.error({ err: errorFields(error) }, 'runner parameter sweep failed');
    }
    try {
      Object.assign(summary, await repairBacklogs(store, fleets, log, this.now()));
    } catch (error) {
      summary.errors++;
      log.error({ err: errorFields(error) }, 'could not requeue stranded jobs or rematch orphaned backlogs');
    }
    try {
      summary.backlogLaunched = await scheduler.drainAll();
    } catch (error) {
      summary.errors++;
      log.error({ err: errorFields(error) }, 'backlog drain failed');
    }
    const warm = await scheduler.topUpWarmPools();
    summary.warmLaunched = warm.launched;
    summary.errors += warm.errors;
    const changed = Object.values(summary).some((count) => count > 0);
    log[changed ? 'info' : 'debug']({ reconcile: summary }, 'reconcile pass');
    return summary;
  }

  /** One fleet's part of a pass: its runners against its tasks or instances. A failure is counted and logged. */
  private async reconcileFleet(
    fleet: FleetSpec,
    active: readonly RunnerRecord[],
    activeByName: ReadonlyMap<string, RunnerRecord>,
    summary: ReconcileSummary,
  ): Promise<void> {
    const { store, compute, scheduler, log } = this.deps;
    const runners = active.filter((runner) => runner.fleet === fleet.name && !scheduler.isBusy(runner.name));
    try {
      const inCloud = await compute.list(fleet);
      // The listing shows what is alive; only runners missing from it (stopped, gone, or not listed
      // yet: listings are eventually consistent) are asked about one by one.
      const listed = new Map(inCloud.map((task) => [task.computeId, task.state]));
      const launched = runners.filter((runner) => runner.status === 'running' && runner.computeId);
      const unlisted = launched.filter((runner) => !listed.has(runner.computeId!)).map((runner) => runner.computeId!);
      const described = unlisted.length > 0 ? await compute.describe(fleet, unlisted) : new Map<string, ComputeState>();
      for (const runner of launched) {
        const state = listed.get(runner.computeId!) ?? described.get(runner.computeId!);
        if (state === 'stopped' || state === 'missing') {
          if (await scheduler.releaseRunner(runner, `task ${state}`, true)) summary.released++;
        } else if (!runner.credentialIssued) {
          scheduler.retryCredential(fleet, runner);
          summary.credentialsRetried++;
        }
      }

      const stuck = runners.filter((runner) => runner.status === 'launching' && this.now() - runner.updatedAt >= this.deps.launchTimeoutMs);
      for (const runner of stuck) {
        const task = inCloud.find((candidate) => candidate.runnerName === runner.name);
        if (task) {
          // The task was started but the process died before recording it.
          await store.markRunnerLaunched(runner.name, task.computeId, 'adopted', this.now(), fleet);
          scheduler.retryCredential(fleet, { ...runner, status: 'running', computeId: task.computeId });
          summary.adopted++;
        } else {
          scheduler.retryLaunch(fleet, runner);
          summary.relaunched++;
        }
      }

      await this.stopOrphans(fleet, inCloud, activeByName, summary);
    } catch (error) {
      summary.errors++;
      log.error({ fleet: fleet.name, err: errorFields(error) }, 'reconcile pass failed for the fleet');
    }
  }

  /**
   * Stops the fleet's tasks that no live runner owns: those of released runners at once, the others
   * once their grace period is over. One failed stop is counted and the others still happen.
   */
  private async stopOrphans(
    fleet: FleetSpec,
    inCloud: readonly ComputeRunner[],
    active: ReadonlyMap<string, RunnerRecord>,
    summary: ReconcileSummary,
  ): Promise<void> {
    const now = this.now();
    const orphans = new Set<string>();
    for (const task of inCloud) {
      const ownership = await this.ownershipOf(task, active);
      if (ownership === 'live') continue;
      if (task.runnerName && this.busyAtCi.has(task.runnerName)) {
        this.deps.log.warn(
          { fleet: fleet.name, runnerName: task.runnerName, computeId: task.computeId },
          'nobody owns this runner, but its CI system reports it busy: left running',
        );
        continue;
      }
      if (ownership === 'orphan') {
        orphans.add(task.computeId);
        const firstSeenAt = this.orphansSeen.get(task.computeId)?.firstSeenAt ?? now;
        this.orphansSeen.set(task.computeId, { fleet: fleet.name, firstSeenAt });
        if (now - firstSeenAt < this.orphanGraceMs) continue;
      }
      const reason = ownership === 'released' ? 'runner already released' : 'no live runner record';
      const fields = { fleet: fleet.name, runnerName: task.runnerName, computeId: task.computeId };
      try {
        await this.deps.compute.stop(fleet, task.computeId, `fleetbot: ${reason}`);
        this.orphansSeen.delete(task.computeId);
        summary.orphansStopped++;
        this.deps.log.info(fields, `stopped a runner nobody owns: ${reason}`);
      } catch (error) {
        summary.errors++;
        this.deps.log.warn({ ...fields, err: errorFields(error) }, 'could not stop a runner nobody owns; trying again next pass');
      }
    }
    // Orphans that went away by themselves (or were adopted) are forgotten.
    for (const [computeId, seen] of this.orphansSeen) {
      if (seen.fleet === fleet.name && !orphans.has(computeId)) this.orphansSeen.delete(computeId);
    }
  }

  /**
   * `active` is read at the start of the pass; a runner missing from it is looked up again, since it
   * may have been claimed (and its task started) since.
   */
  private async ownershipOf(task: ComputeRunner, active: ReadonlyMap<string, RunnerRecord>): Promise<Ownership> {
    if (!task.runnerName) return 'orphan';
    if (this.deps.scheduler.isBusy(task.runnerName)) return 'live';
    const owner = active.get(task.runnerName) ?? (await this.deps.store.getRunner(task.runnerName));
    if (!owner) return 'orphan';
    if (owner.status === 'released') return 'released';
    // A second task for a runner that has its own: a launch repeated after a crash found no task yet.
    if (owner.computeId && owner.computeId !== task.computeId) return 'orphan';
    return 'live';
  }

  private forgetOrphansOfRemovedFleets(): void {
    for (const [computeId, seen] of this.orphansSeen) {
      if (!this.deps.fleets.get(seen.fleet)) this.orphansSeen.delete(computeId);
    }
  }

  /**
   * Looks at the runners registered with the CI systems wherever jobs came from, and removes those of
   * ours that no longer serve anyone: an offline one with no live runner record (its compute is gone)
   * is unregistered; an online one idle past its fleet's `idleTimeoutSeconds` whose own job is no
   * longer queued (another runner took it, or it was cancelled) is unregistered, then stopped. A
   * runner the CI system reports busy is never touched, and a 422 on delete (it took a job since it
   * was listed) leaves it be. One scope failing does not stop the others.
   */
  private async sweepRegisteredRunners(summary: ReconcileSummary): Promise<void> {
    const { ci, store, fleets, scheduler, log } = this.deps;
    const now = this.now();
    if (!ci) return;
    if (this.lastRunnerSweepAt !== undefined && now - this.lastRunnerSweepAt < this.runnerSweepIntervalMs) return;
    this.lastRunnerSweepAt = now;
    const scopes = new Map<string, JobRecord>();
    for (const job of await store.jobOrigins(now - RUNNER_SCOPE_WINDOW_MS)) {
      const scope = ci.runnerScope(job);
      if (scope) scopes.set(scope, job);
    }
    const busy = new Set<string>();
    for (const [scope, scopeJob] of scopes) {
      try {
        for (const registered of await ci.listRegisteredRunners(scopeJob)) {
          if (registered.busy) busy.add(registered.name);
          if (registered.busy || scheduler.isBusy(registered.name)) continue;
          const fleet = fleetOfRunner(fleets.all(), registered.name);
          // Named like ours but of no fleet configured now: ours if the store knows it (its fleet was removed).
          const record = fleet || RUNNER_NAME.test(registered.name) ? await store.getRunner(registered.name) : undefined;
          if (!fleet && !record) continue;
          const live = record !== undefined && record.status !== 'released';
          const fields = { fleet: fleet?.name ?? record?.fleet, runnerName: registered.name, scope };
          if (!registered.online && !live) {
            if (summary.offlineRunnersDeleted >= OFFLINE_DELETIONS_PER_SWEEP) continue;
            if ((await ci.deleteRegisteredRunner(scopeJob, registered.id)) === 'deleted') {
              summary.offlineRunnersDeleted++;
              log.info(fields, 'unregistered an offline runner with no compute behind it');
            }
          } else if (fleet && registered.online && record?.status === 'running' && !(await this.isWanted(fleet, record, now))) {
            if ((await ci.deleteRegisteredRunner(scopeJob, registered.id)) === 'busy') continue;
            await scheduler.releaseRunner(record, record.warm ? 'not wanted by the warm pool' : 'idle past its timeout', false);
            summary.idleRunnersRemoved++;
            log.info(
              fields,
              record.warm
                ? 'removed a warm runner the pool no longer wants (outside its schedule, or above its count)'
                : `removed a runner idle for over ${fleet.idleTimeoutSeconds}s whose job another runner took`,
            );
          }
        }
      } catch (error) {
        summary.errors++;
        log.warn({ scope, err: errorFields(error) }, 'could not sweep the runners registered there; trying again next sweep');
        // What was busy there stays busy until a listing says otherwise.
        for (const name of this.busyAtCi) busy.add(name);
      }
    }
    this.busyAtCi = busy;
  }

  /**
   * An idle warm runner is wanted while its pool keeps it. Another idle runner is wanted until its
   * fleet's idle timeout, and after it while its own job is queued (or its status is unknown).
   */
  private async isWanted(fleet: FleetSpec, runner: RunnerRecord, now: number): Promise<boolean> {
    if (runner.warm) return this.deps.scheduler.keepsWarmRunner(fleet, runner);
    if (now - runner.createdAt < fleet.idleTimeoutSeconds * 1000) return true;
    const job = await this.deps.store.getJob(runner.ci, runner.jobId);
    if (!job || job.status === 'completed' || job.status === 'abandoned') return false;
    try {
      return await this.deps.ci!.isJobQueued(job);
    } catch {
      return true;
    }
  }

  /**
   * Deletes runner parameters nobody will read: older than `staleParameterMs` and with no active
   * runner. Listing every parameter is slow and rate-limited, so this runs at most every
   * `parameterSweepIntervalMs` (also after a failure, so a throttled SSM is not asked every pass).
   */
  private async sweepRunnerParameters(active: ReadonlyMap<string, RunnerRecord>): Promise<number> {
    const { runnerParameters, scheduler } = this.deps;
    const now = this.now();
    if (!runnerParameters) return 0;
    if (this.lastParameterSweepAt !== undefined && now - this.lastParameterSweepAt < this.parameterSweepIntervalMs) return 0;
    this.lastParameterSweepAt = now;
    const stale = (await runnerParameters.listRunnerParameters()).filter(
      (parameter) =>
        now - parameter.lastModifiedAt >= this.staleParameterMs &&
        !active.has(parameter.runnerName) &&
        !scheduler.isBusy(parameter.runnerName),
    );
    if (stale.length === 0) return 0;
    return runnerParameters.deleteRunnerParameters(stale.map((parameter) => parameter.name));
  }
}

/**
 * The fleet a registered runner belongs to, from its name (`<fleet>-<job>-<6 random>`): the longest
 * fleet name that prefixes it, so `linux-small-…` is not taken for fleet `linux`'s. Other runners are not ours.
 */
export function fleetOfRunner(fleets: readonly FleetSpec[], runnerName: string): FleetSpec | undefined {
  let found: FleetSpec | undefined;
  for (const fleet of fleets) {
    const rest = runnerName.startsWith(`${fleet.name}-`) ? runnerName.slice(fleet.name.length + 1) : undefined;
    if (rest !== undefined && /^.+-[0-9a-z]{6}$/.test(rest) && (!found || fleet.name.length > found.name.length)) found = fleet;
  }
  return found;
}

/** A pass's counts before it starts: every one at zero. */
function emptySummary(): ReconcileSummary {
  return {
    released: 0,
    relaunched: 0,
    adopted: 0,
    credentialsRetried: 0,
    orphansStopped: 0,
    parametersDeleted: 0,
    offlineRunnersDeleted: 0,
    idleRunnersRemoved: 0,
    strandedRequeued: 0,
    backlogRematched: 0,
    backlogUnmatched: 0,
    backlogLaunched: 0,
    warmLaunched: 0,
    removedFleetRunnersStopped: 0,
    errors: 0,
  };
}

/** Runs `work` for every item, at most `limit` at a time. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
