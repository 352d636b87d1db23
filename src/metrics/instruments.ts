import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ScrapeTimeGauges, type GaugeSource, type StoreGauges } from './gauges.js';

/**
 * fleetbot's Prometheus metrics: their names, types and labels are fixed (dashboards and alerts are
 * written against them; README "Metrics" lists them). Each app has its own registry, so that several
 * apps in one process (tests, replicas in one test) never count into each other's.
 */

/**
 * The bounds of `fleetbot_job_wait_seconds`, in seconds: from a warm runner's few seconds to an hour
 * in a full fleet's backlog. The one source of them: the operator view's wait histograms use the same.
 */
export const WAIT_BUCKETS_SECONDS: readonly number[] = [5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** A launch call (RunTask, RunInstances, an Auto Scaling claim) takes from a fraction of a second to a minute. */
export const LAUNCH_BUCKETS_SECONDS: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** A runner boots, fetches its credential and registers in tens of seconds (Fargate) to minutes (EC2). */
export const READY_BUCKETS_SECONDS: readonly number[] = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600];
export const RECONCILE_BUCKETS_SECONDS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The outcomes `fleetbot_jobs_total` counts; see README "Metrics" for when each is counted. */
export type JobOutcome = 'launched' | 'pooled' | 'waiting' | 'unmatched' | 'duplicate' | 'completed' | 'cancelled' | 'failed';
export type LaunchFailureReason = 'capacity' | 'throttled' | 'credential' | 'other';

export interface FleetbotMetrics {
  readonly registry: Registry;
  readonly jobs: Counter<'ci' | 'fleet' | 'outcome'>;
  readonly jobWait: Histogram<'ci' | 'fleet'>;
  readonly launch: Histogram<'fleet' | 'compute'>;
  readonly runnerReady: Histogram<'fleet'>;
  readonly runners: Gauge<'fleet' | 'state'>;
  readonly backlogJobs: Gauge<'fleet'>;
  readonly fleetMaxRunners: Gauge<'fleet'>;
  readonly launchFailures: Counter<'fleet' | 'reason'>;
  readonly githubRateLimitRemaining: Gauge<'installation'>;
  readonly reconcileDuration: Histogram;
  readonly deliveriesRecovered: Counter<'event'>;
  readonly issueOpsRequests: Gauge<'state'>;
  readonly jobCost: Counter<'fleet'>;
  /** Where the gauges read from at scrape time: the app's store, fleets and IssueOps, once it is loaded. */
  readGaugesFrom(source: GaugeSource): void;
}

/** A new registry with every fleetbot metric and Node's default process metrics on it. */
export function createMetrics(): FleetbotMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const scraped = new ScrapeTimeGauges();
  const gauges = storeGauges([registry], () => scraped.refresh());
  scraped.attach(gauges);
  return {
    registry,
    readGaugesFrom: (source) => scraped.readFrom(source),
    ...gauges,
    ...jobMetrics([registry]),
    ...runnerMetrics([registry]),
    ...appMetrics([registry]),
  };
}

type Registers = Registry[];

function jobMetrics(registers: Registers) {
  return {
    jobs: new Counter({
      name: 'fleetbot_jobs_total',
      help: 'Jobs by what became of them: their admission (pooled, waiting, unmatched, duplicate), a runner launched for them, their end',
      labelNames: ['ci', 'fleet', 'outcome'] as const,
      registers,
    }),
    jobWait: new Histogram({
      name: 'fleetbot_job_wait_seconds',
      help: "From the job queued at its CI system to its start on a runner, as the CI system's timestamps say",
      labelNames: ['ci', 'fleet'] as const,
      buckets: [...WAIT_BUCKETS_SECONDS],
      registers,
    }),
    jobCost: new Counter({
      name: 'fleetbot_job_cost_dollars_total',
      help: "Estimated cost of the fleet's released runners, in US dollars at list prices (README: cost model)",
      labelNames: ['fleet'] as const,
      registers,
    }),
  };
}

function runnerMetrics(registers: Registers) {
  return {
    launch: new Histogram({
      name: 'fleetbot_launch_seconds',
      help: "From the claim of a runner's slot (the job's receipt, when a slot was free) to the launch call's return",
      labelNames: ['fleet', 'compute'] as const,
      buckets: [...LAUNCH_BUCKETS_SECONDS],
      registers,
    }),
    runnerReady: new Histogram({
      name: 'fleetbot_runner_ready_seconds',
      help: 'From a runner launched for a job to that job started on it',
      labelNames: ['fleet'] as const,
      buckets: [...READY_BUCKETS_SECONDS],
      registers,
    }),
    launchFailures: new Counter({
      name: 'fleetbot_launch_failures_total',
      help: "Runner launches that failed, by reason (capacity, throttled, credential, other); the job goes back in its fleet's backlog",
      labelNames: ['fleet', 'reason'] as const,
      registers,
    }),
  };
}

function appMetrics(registers: Registers) {
  return {
    githubRateLimitRemaining: new Gauge({
      name: 'fleetbot_github_rate_limit_remaining',
      help: "GitHub's x-ratelimit-remaining on the latest response, by installation (app: the App's own JWT requests)",
      labelNames: ['installation'] as const,
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'fleetbot_reconcile_duration_seconds',
      help: 'How long each reconcile pass took, failed ones included',
      buckets: [...RECONCILE_BUCKETS_SECONDS],
      registers,
    }),
    deliveriesRecovered: new Counter({
      name: 'fleetbot_deliveries_recovered_total',
      help: 'Failed GitHub webhook deliveries fleetbot asked GitHub to redeliver, by event',
      labelNames: ['event'] as const,
      registers,
    }),
  };
}

/** The gauges read from the store: each one's `collect` refreshes all four from one read. */
function storeGauges(registers: Registers, collect: () => Promise<void>): StoreGauges {
  return {
    runners: new Gauge({ name: 'fleetbot_runners', help: 'Active runners by state', labelNames: ['fleet', 'state'], registers, collect }),
    backlogJobs: new Gauge({
      name: 'fleetbot_backlog_jobs',
      help: "Jobs waiting in the fleet's backlog",
      labelNames: ['fleet'],
      registers,
      collect,
    }),
    fleetMaxRunners: new Gauge({
      name: 'fleetbot_fleet_max_runners',
      help: "The fleet's maxRunners",
      labelNames: ['fleet'],
      registers,
      collect,
    }),
    issueOpsRequests: new Gauge({
      name: 'fleetbot_issueops_requests',
      help: 'IssueOps requests under way, by state',
      labelNames: ['state'],
      registers,
      collect,
    }),
  };
}
