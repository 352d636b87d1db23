import type { Logger } from 'probot';
import type { CiRouter } from '../ci/router.js';
import type { RegisteredRunner } from '../ci/types.js';
import type { ComputeBackend } from '../compute/types.js';
import type { FleetRegistry } from '../fleets/registry.js';
import { errorFields } from '../errors.js';
import type { CredentialStore } from '../secrets/types.js';
import { SerialLanes } from '../serial-lanes.js';
import type { JobRecord, RunnerRecord, Store } from '../store/types.js';

/**
 * Where the runner stands at its CI system: its registration as listed, `absent` from the listing of
 * where it registers, or `unlisted` where nothing can be listed (GitLab and CircleCI list no runners:
 * theirs never outlive their compute; or the runner's job, and so its scope, is unknown).
 */
export type RegistrationAtCi = RegisteredRunner | 'absent' | 'unlisted';

export type RemovedFleetVerdict =
  | { action: 'keep'; reason: string }
  /** `unregister`: the id of the registration to delete at the CI system before the runner is stopped. */
  | { action: 'retire'; reason: string; unregister?: string };

/** The reason a retired runner is released with, as the store keeps it. */
export const REMOVED_FLEET_REASON = 'its fleet is no longer configured';

/**
 * What becomes of an active runner whose fleet is no longer configured. One its CI system reports busy
 * keeps running, and its job's completion stops it; where the CI system cannot be asked, one whose own
 * job has started and not finished counts as busy. Any other is retired: unregistered where it is
 * registered, then stopped and released.
 */
export function removedFleetVerdict(job: JobRecord | undefined, registration: RegistrationAtCi): RemovedFleetVerdict {
  if (registration === 'unlisted') {
    const running = job !== undefined && job.startedAt !== null && job.status !== 'completed' && job.status !== 'abandoned';
    return running
      ? { action: 'keep', reason: `its job ${job.jobId} is running; stopped when the job ends` }
      : { action: 'retire', reason: 'its CI system cannot list it, and its job is not running' };
  }
  if (registration === 'absent') return { action: 'retire', reason: 'not registered at its CI system' };
  if (registration.busy) return { action: 'keep', reason: 'its CI system reports it busy; stopped when its job ends' };
  return { action: 'retire', reason: `idle (${registration.online ? 'online' : 'offline'}) at its CI system`, unregister: registration.id };
}

export interface RemovedFleetDeps {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  credentials: CredentialStore;
  /** Whether this process is launching the runner or issuing its credential: then it is left alone. */
  isBusy(runnerName: string): boolean;
  /** Without it no runner can be asked about, and each counts as `unlisted`. */
  ci?: Pick<CiRouter, 'runnerScope' | 'listRegisteredRunners' | 'deleteRegisteredRunner'>;
  log: Logger;
  now: () => number;
}

export interface RemovedFleetCleanup {
  /** Runners retired: unregistered, stopped and released. */
  stopped: number;
  /** Runners left to finish their job. */
  kept: number;
  /** Runners that could not be looked at or retired: tried again next time. */
  errors: number;
}

/**
 * Runners of fleets no longer configured (removed from the fleets file, or deleted by IssueOps): nothing
 * else looks at them, since the reconciler goes fleet by fleet. Each look goes through every such active
 * runner and acts on its verdict (see removedFleetVerdict); a runner is stopped with the spec it was
 * launched with. A failure (AWS throttling, a 5xx from the CI system) leaves the runner active for the
 * next look, logged. Looks run one at a time, so a look asked for during another runs after it.
 */
export class RemovedFleetRunners {
  private readonly lane = new SerialLanes();
  /** Runners already logged as left running: the line is not repeated at every look. */
  private reportedKept = new Set<string>();

  constructor(private readonly deps: RemovedFleetDeps) {}

  /** One look; never rejects: a failure is counted and logged. */
  look(): Promise<RemovedFleetCleanup> {
    return this.lane.run('look', async () => {
      try {
        return await this.lookNow();
      } catch (error) {
        this.deps.log.error({ err: errorFields(error) }, 'could not look at the runners of removed fleets');
        return { stopped: 0, kept: 0, errors: 1 };
      }
    });
  }

  /** Resolves when no look is under way or queued. */
  async idle(): Promise<void> {
    await this.lane.run('look', async () => undefined);
  }

  private async lookNow(): Promise<RemovedFleetCleanup> {
    const { store, fleets, isBusy, log } = this.deps;
    const result: RemovedFleetCleanup = { stopped: 0, kept: 0, errors: 0 };
    const runners = (await store.activeRunners()).filter((runner) => !fleets.get(runner.fleet) && !isBusy(runner.name));
    const listings = new Map<string, Promise<RegisteredRunner[]>>();
    const kept = new Set<string>();
    for (const runner of runners) {
      const fields = { fleet: runner.fleet, runnerName: runner.name, jobId: runner.jobId, computeId: runner.computeId };
      try {
        const job = await store.getJob(runner.ci, runner.jobId);
        const verdict = removedFleetVerdict(job, await this.registrationOf(job, runner, listings));
        const outcome = verdict.action === 'retire' ? await this.retire(runner, job, verdict) : verdict;
        if (outcome.action === 'retire') {
          result.stopped++;
          continue;
        }
        result.kept++;
        kept.add(runner.name);
        const level = this.reportedKept.has(runner.name) ? 'debug' : 'info';
        log[level]({ ...fields, reason: outcome.reason }, `left a runner of removed fleet ${runner.fleet} running: ${outcome.reason}`);
      } catch (error) {
        result.errors++;
        log.warn(
          { ...fields, err: errorFields(error) },
          `could not retire a runner of removed fleet ${runner.fleet}; trying again next pass`,
        );
      }
    }
    this.reportedKept = kept;
    return result;
  }

  /** The runner's registration, from one listing per scope per look; a listing that fails fails each of its runners. */
  private async registrationOf(
    job: JobRecord | undefined,
    runner: RunnerRecord,
    listings: Map<string, Promise<RegisteredRunner[]>>,
  ): Promise<RegistrationAtCi> {
    const { ci } = this.deps;
    const scope = ci && job ? ci.runnerScope(job) : undefined;
    if (!ci || !job || !scope) return 'unlisted';
    let listing = listings.get(scope);
    if (!listing) listings.set(scope, (listing = ci.listRegisteredRunners(job)));
    return (await listing).find((registered) => registered.name === runner.name) ?? 'absent';
  }

  /**
   * Unregisters the runner (unless it took a job since it was listed: then it is kept), stops its task
   * or instance, releases it and deletes its credential. Throws, leaving it active, if a step before the
   * release fails.
   */
  private async retire(
    runner: RunnerRecord,
    job: JobRecord | undefined,
    verdict: Extract<RemovedFleetVerdict, { action: 'retire' }>,
  ): Promise<RemovedFleetVerdict> {
    const { ci, compute, store, credentials, log } = this.deps;
    const fields = { fleet: runner.fleet, runnerName: runner.name, jobId: runner.jobId, computeId: runner.computeId };
    if (verdict.unregister && ci && job && (await ci.deleteRegisteredRunner(job, verdict.unregister)) === 'busy') {
      return { action: 'keep', reason: 'it took a job as it was being unregistered; stopped when that job ends' };
    }
    const spec = runner.launchSpec;
    if (runner.computeId && spec) await compute.stop(spec, runner.computeId, `fleetbot: ${REMOVED_FLEET_REASON}`);
    await store.releaseRunner(runner.name, REMOVED_FLEET_REASON, { requeueJob: false }, this.deps.now());
    if (runner.computeId && !spec) {
      log.warn(
        { ...fields, reason: verdict.reason },
        `released a runner of removed fleet ${runner.fleet} (${verdict.reason}), but it was launched before fleetbot kept ` +
          'launch specs: stop its task or instance by hand',
      );
    } else {
      log.info({ ...fields, reason: verdict.reason }, `stopped a runner of removed fleet ${runner.fleet}: ${verdict.reason}`);
    }
    try {
      await credentials.delete(runner);
    } catch (error) {
      log.warn({ ...fields, err: errorFields(error) }, 'could not delete the runner credential; the parameter sweep deletes it later');
    }
    return verdict;
  }
}
