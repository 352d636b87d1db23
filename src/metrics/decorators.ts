import type { Logger } from 'probot';
import type { CiCalls } from '../ci/router.js';
import type { Delivery, FleetBacklogs, JobCompleted, JobSink, JobStarted } from '../ci/types.js';
import { CapacityError, type ComputeBackend } from '../compute/types.js';
import { estimateRunnerCost, launchedAtOf } from '../cost/estimate.js';
import { errorFields } from '../errors.js';
import type { FleetRegistry } from '../fleets/registry.js';
import type { Admission, RunnerRecord, Store } from '../store/types.js';
import type { FleetbotMetrics, JobOutcome, LaunchFailureReason } from './instruments.js';

/**
 * The metrics' observation points, as decorators of what the scheduler and reconciler are given (the
 * job sink, the compute backend, the CI calls and the store): the job path itself is not edited for
 * metrics. An observation that fails (a store read) is logged and never fails the call it observes.
 */

export interface ObserverDeps {
  metrics: FleetbotMetrics;
  /** Read for what the observed call does not carry (a job's fleet, a runner's launch). */
  store: Store;
  fleets: FleetRegistry;
  log: Logger;
  now: () => number;
  /** The region prices are looked up in for fleets that do not name one (their `provision.region`). */
  pricingRegion?: string;
}

/** `target` with some members replaced; every other member is `target`'s own (methods bound to it). */
export function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.prototype.hasOwnProperty.call(overrides, property)) return overrides[property as keyof T];
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

const seconds = (ms: number) => Math.max(0, ms) / 1000;

/** What `observe` gives, or undefined (logged) when it fails: an observation never fails the call it observes. */
async function observing<T>(deps: ObserverDeps, what: string, observe: () => Promise<T>): Promise<T | undefined> {
  try {
    return await observe();
  } catch (error) {
    deps.log.warn({ err: errorFields(error) }, `could not observe ${what} for the metrics`);
    return undefined;
  }
}

/** A claimed admission is counted `launched` when its runner's launch returns (meterCompute), as backlog jobs are. */
const ADMISSION_OUTCOMES: Record<Admission['kind'], JobOutcome | undefined> = {
  claimed: undefined,
  pooled: 'pooled',
  waiting: 'waiting',
  unmatched: 'unmatched',
  duplicate: 'duplicate',
};

const COMPLETION_OUTCOMES: Record<NonNullable<JobCompleted['conclusion']> | 'unknown', JobOutcome> = {
  success: 'completed',
  unknown: 'completed',
  failure: 'failed',
  cancelled: 'cancelled',
};

/**
 * Admissions by kind, completions by conclusion (each job once: a redelivery finds it completed already),
 * and, at a job's first start, its wait from queued at its CI system and, when it started on the runner
 * launched for it, that runner's time from launch to ready.
 */
export function meterJobSink<T extends JobSink & FleetBacklogs>(sink: T, deps: ObserverDeps): T {
  const { metrics, store } = deps;
  return withOverrides<JobSink & FleetBacklogs>(sink, {
    async jobQueued(job, delivery) {
      const admission = await sink.jobQueued(job, delivery);
      const outcome = ADMISSION_OUTCOMES[admission.kind];
      if (outcome) metrics.jobs.inc({ ci: job.ci, fleet: admission.job.fleet ?? '', outcome });
      return admission;
    },
    async jobStarted(started: JobStarted, delivery?: Delivery) {
      const before = await observing(deps, 'the job before its start', () => store.getJob(started.ci, started.jobId));
      await sink.jobStarted(started, delivery);
      if (!before?.fleet || before.startedAt !== null) return;
      const fleet = before.fleet;
      const startedAt = started.startedAt ?? deps.now();
      const queuedAt = started.queuedAt ?? before.receivedAt;
      metrics.jobWait.observe({ ci: started.ci, fleet }, seconds(startedAt - queuedAt));
      if (!started.runnerName) return;
      const runnerName = started.runnerName;
      await observing(deps, 'the runner ready time', async () => {
        const runner: RunnerRecord | undefined = await store.getRunner(runnerName);
        const launchedAt = runner && launchedAtOf(runner);
        if (runner?.jobId !== started.jobId || launchedAt === null || launchedAt === undefined) return;
        metrics.runnerReady.observe({ fleet: runner.fleet }, seconds(startedAt - launchedAt));
      });
    },
    async jobCompleted(completed: JobCompleted, delivery?: Delivery) {
      const before = await observing(deps, 'the job before its end', () => store.getJob(completed.ci, completed.jobId));
      await sink.jobCompleted(completed, delivery);
      if (!before?.fleet || before.status === 'completed') return;
      const outcome = COMPLETION_OUTCOMES[completed.conclusion ?? 'unknown'];
      metrics.jobs.inc({ ci: completed.ci, fleet: before.fleet, outcome });
    },
  }) as T;
}

/** AWS error names for "too many requests": EC2's, ECS's and Auto Scaling's, and the SDK's own throttling flag. */
const THROTTLING_ERRORS = new Set([
  'RequestLimitExceeded',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

export function launchFailureReason(error: unknown): LaunchFailureReason {
  if (error instanceof CapacityError) return 'capacity';
  const { name, $retryable } = (error ?? {}) as { name?: string; $retryable?: { throttling?: boolean } };
  if ((name && THROTTLING_ERRORS.has(name)) || $retryable?.throttling) return 'throttled';
  return 'other';
}

/**
 * Launch failures by reason; and for each launch that returned, its time from the claim of the runner's
 * slot and, unless the runner is a warm one (no job yet), its job counted `launched`.
 */
export function meterCompute<T extends ComputeBackend>(compute: T, deps: ObserverDeps): T {
  const { metrics, store } = deps;
  return withOverrides<ComputeBackend>(compute, {
    async launch(fleet, request) {
      let launched;
      try {
        launched = await compute.launch(fleet, request);
      } catch (error) {
        metrics.launchFailures.inc({ fleet: fleet.name, reason: launchFailureReason(error) });
        throw error;
      }
      const returnedAt = deps.now();
      await observing(deps, 'the launch', async () => {
        const runner = await store.getRunner(request.runnerName);
        if (!runner) return;
        metrics.launch.observe({ fleet: fleet.name, compute: fleet.compute.type }, seconds(returnedAt - runner.createdAt));
        if (!runner.warm) metrics.jobs.inc({ ci: fleet.ci, fleet: fleet.name, outcome: 'launched' });
      });
      return launched;
    },
  }) as T;
}

/** A runner whose credential the CI system would not give is a failed launch: the scheduler stops it and requeues its job. */
export function meterCredentials<T extends CiCalls>(ci: T, metrics: FleetbotMetrics): T {
  return withOverrides<CiCalls>(ci, {
    async createRunnerCredential(job, runner, fleet) {
      try {
        return await ci.createRunnerCredential(job, runner, fleet);
      } catch (error) {
        metrics.launchFailures.inc({ fleet: fleet.name, reason: 'credential' });
        throw error;
      }
    },
  }) as T;
}

/**
 * Every runner released (by a completion, the reconciler, a failed launch or credential, a removed fleet)
 * adds its estimated cost to its fleet's `fleetbot_job_cost_dollars_total`: the store's two releasing
 * operations say which runner they freed, once.
 */
export function meterStore(store: Store, deps: Omit<ObserverDeps, 'store'>): Store {
  const count = (runner: RunnerRecord | undefined, now: number) => {
    const spec = runner && (deps.fleets.get(runner.fleet) ?? runner.launchSpec);
    if (!runner || !spec) return;
    const dollars = estimateRunnerCost(runner, spec, now, deps.pricingRegion);
    if (dollars > 0) deps.metrics.jobCost.inc({ fleet: runner.fleet }, dollars);
  };
  return withOverrides(store, {
    async releaseRunner(name, reason, options, now) {
      const released = await store.releaseRunner(name, reason, options, now);
      count(released, now);
      return released;
    },
    async completeJob(ci, jobId, runnerName, now, mayRelease) {
      const completion = await store.completeJob(ci, jobId, runnerName, now, mayRelease);
      count(completion.releasedRunner, now);
      return completion;
    },
  });
}
