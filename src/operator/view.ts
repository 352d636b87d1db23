import type { FleetRegistry } from '../fleets/registry.js';
import type { FleetSpec } from '../fleets/spec.js';
// The dashboard's wait histograms have the bounds of `fleetbot_job_wait_seconds`.
import { WAIT_BUCKETS_SECONDS } from '../metrics/instruments.js';
import type { FleetRequestRecord, IssueOpsStore, JobRecord, ProvisionedFleet, RunnerRecord, Store } from '../store/types.js';
import {
  UnknownFleetError,
  type DrainResult,
  type FleetCostDay,
  type FleetOverview,
  type FleetState,
  type IssueOpsRequestView,
  type JobQuery,
  type JobView,
  type OperatorView,
  type RunnerView,
  type StatusView,
  type WaitStats,
} from './types.js';

export { UnknownFleetError } from './types.js';

/** Jobs listed when a query gives no limit. */
export const DEFAULT_JOB_LIMIT = 200;
/** The most jobs one query may ask for (the API's and the CLI's `limit`). */
export const MAX_JOB_LIMIT = 1000;
/** Wait statistics and costs are computed over at most this many of the newest jobs or runners since the time asked. */
export const STATS_SAMPLE = 5_000;
const DEFAULT_REQUEST_LIMIT = 50;
const DAY_MS = 86_400_000;

/**
 * What a runner cost, in dollars, from its launch to `until` (its release, for a released one); null
 * when it cannot be told (no price known). src/cost's estimate, passed in by whoever builds the view.
 */
export type RunnerCost = (runner: RunnerRecord, fleet: FleetSpec | undefined, until: number) => number | null;

export interface OperatorViewDeps {
  store: Store;
  /** IssueOps state, when the fleets file has an `issueops` section: requests, and fleets being deleted. */
  issueOps?: IssueOpsStore;
  fleets: FleetRegistry;
  now?: () => number;
  /** Tells this replica's scheduler of a drain or an undrain it made (the scheduler serves an undrained fleet's backlog). */
  drainChanged?: (fleet: string, drained: boolean) => Promise<void>;
  /** https://github.com, or the GitHub Enterprise host: for links to IssueOps issues and pull requests. */
  githubWebUrl?: string;
  /** Without it, jobs carry no cost and there is no cost per day. */
  runnerCost?: RunnerCost;
}

/** The operator's read model over the store (see OperatorView): one shape for the dashboard, the JSON API and the CLI. */
export function createOperatorView(deps: OperatorViewDeps): OperatorView {
  return new StoreOperatorView(deps);
}

class StoreOperatorView implements OperatorView {
  private readonly now: () => number;
  private readonly githubWebUrl: string;

  constructor(private readonly deps: OperatorViewDeps) {
    this.now = deps.now ?? Date.now;
    this.githubWebUrl = (deps.githubWebUrl ?? 'https://github.com').replace(/\/+$/, '');
  }

  async status(): Promise<StatusView> {
    const [fleets, runners, tasks] = await Promise.all([this.fleets(), this.runners(), this.deps.store.taskPasses()]);
    return { fleets, runners, tasks, generatedAt: this.now() };
  }

  async fleets(): Promise<FleetOverview[]> {
    const { store, issueOps } = this.deps;
    const [provisioned, counts, drained, active] = await Promise.all([
      issueOps?.provisionedFleets() ?? [],
      store.fleetCounts(),
      store.drainedFleets(),
      store.activeRunners(),
    ]);
    const specs = this.knownFleets(provisioned);
    const deleting = this.deletingFleets(provisioned);
    return specs.map((fleet): FleetOverview => {
      const count = counts.get(fleet.name) ?? { active: 0, waiting: 0 };
      const warm = active.filter((runner) => runner.fleet === fleet.name && runner.warm).length;
      const isDrained = drained.has(fleet.name);
      const state: FleetState = isDrained
        ? 'drained'
        : deleting.has(fleet.name)
          ? 'deleting'
          : count.active >= fleet.maxRunners
            ? 'full'
            : 'serving';
      const { name, ci, maxRunners } = fleet;
      return {
        name,
        ci,
        compute: fleet.compute.type,
        maxRunners,
        active: count.active,
        warm,
        waiting: count.waiting,
        drained: isDrained,
        state,
      };
    });
  }

  async runners(filter: { fleet?: string } = {}): Promise<RunnerView[]> {
    const now = this.now();
    const active = await this.deps.store.activeRunners();
    return active
      .filter((runner) => filter.fleet === undefined || runner.fleet === filter.fleet)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((runner) => this.runnerView(runner, now));
  }

  async jobs(query: JobQuery): Promise<JobView[]> {
    const jobs = await this.deps.store.listJobs({ ...query, limit: query.limit ?? DEFAULT_JOB_LIMIT });
    const costs = await this.jobCosts(jobs);
    // A runner that another job took (see Completion.requeuedJob) cost that job, not this one.
    const costOf = (job: JobRecord) =>
      job.runnerName !== null && costs.get(job.runnerName)?.jobId === job.jobId ? costs.get(job.runnerName)!.dollars : null;
    return jobs.map((job) => this.jobView(job, costOf(job)));
  }

  /**
   * Wait (queued at the CI system, or received when it did not say, → started) of the jobs received since
   * `since` that started, per fleet: every fleet served, and any other fleet the jobs name.
   */
  async waitStats(since: number): Promise<WaitStats[]> {
    const jobs = await this.deps.store.listJobs({ since, limit: STATS_SAMPLE });
    const fleets = this.knownFleets((await this.deps.issueOps?.provisionedFleets()) ?? []);
    const waits = new Map<string, number[]>(fleets.map((fleet) => [fleet.name, []]));
    for (const job of jobs) {
      const wait = waitSeconds(job);
      if (job.fleet === null || wait === null) continue;
      if (!waits.has(job.fleet)) waits.set(job.fleet, []);
      waits.get(job.fleet)!.push(wait);
    }
    return [...waits].sort(([a], [b]) => (a < b ? -1 : 1)).map(([fleet, seconds]) => waitStatsOf(fleet, seconds));
  }

  /**
   * Each fleet's runner cost per UTC day, since `since`: a runner's whole cost counts on the day it was
   * released (today, estimated until now, for one still active). Empty without a cost function.
   */
  async costPerDay(since: number): Promise<FleetCostDay[]> {
    const cost = this.deps.runnerCost;
    if (!cost) return [];
    const now = this.now();
    const runners = await this.deps.store.listRunners({ limit: STATS_SAMPLE });
    const dollars = new Map<string, FleetCostDay>();
    for (const runner of runners) {
      const until = runner.releasedAt ?? now;
      const spent = until >= since ? cost(runner, this.specOf(runner), until) : null;
      if (spent === null) continue;
      const day = new Date(Math.floor(until / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
      const key = `${runner.fleet}\u0000${day}`;
      const entry = dollars.get(key) ?? { fleet: runner.fleet, day, dollars: 0 };
      entry.dollars += spent;
      dollars.set(key, entry);
    }
    return [...dollars.values()].sort((a, b) => (a.day === b.day ? (a.fleet < b.fleet ? -1 : 1) : a.day < b.day ? -1 : 1));
  }

  async issueOpsRequests(limit = DEFAULT_REQUEST_LIMIT): Promise<IssueOpsRequestView[]> {
    const requests = (await this.deps.issueOps?.recentRequests(limit)) ?? [];
    return requests.map((request) => this.requestView(request));
  }

  async drain(fleet: string): Promise<DrainResult> {
    await this.requireFleet(fleet);
    const changed = await this.deps.store.setFleetDrained(fleet, true, this.now());
    if (changed) await this.deps.drainChanged?.(fleet, true);
    return { fleet, drained: true, changed };
  }

  async undrain(fleet: string): Promise<DrainResult> {
    await this.requireFleet(fleet);
    const changed = await this.deps.store.setFleetDrained(fleet, false, this.now());
    if (changed) await this.deps.drainChanged?.(fleet, false);
    return { fleet, drained: false, changed };
  }

  /**
   * The fleets served: the fleets file's and IssueOps' in the registry, and those IssueOps applied that it
   * does not hold (a CLI's registry holds the fleets file's only).
   */
  private knownFleets(provisioned: readonly ProvisionedFleet[]): FleetSpec[] {
    const served = this.deps.fleets.all();
    const names = new Set(served.map((fleet) => fleet.name));
    return [...served, ...provisioned.filter((fleet) => !names.has(fleet.name)).map((fleet) => fleet.live)];
  }

  /** Fleets whose deletion is under way: IssueOps marked them draining (in the store, or on this replica). */
  private deletingFleets(provisioned: readonly ProvisionedFleet[]): Set<string> {
    const deleting = new Set(provisioned.filter((fleet) => fleet.status === 'draining').map((fleet) => fleet.name));
    for (const fleet of this.deps.fleets.all()) if (this.deps.fleets.isDraining(fleet.name)) deleting.add(fleet.name);
    return deleting;
  }

  private async requireFleet(fleet: string): Promise<void> {
    const known = this.knownFleets((await this.deps.issueOps?.provisionedFleets()) ?? []);
    if (!known.some((served) => served.name === fleet)) throw new UnknownFleetError(fleet);
  }

  private specOf(runner: RunnerRecord): FleetSpec | undefined {
    return this.deps.fleets.get(runner.fleet) ?? runner.launchSpec ?? undefined;
  }

  private runnerView(runner: RunnerRecord, now: number): RunnerView {
    const type = this.specOf(runner)?.compute.type ?? 'unknown';
    return {
      ...{ name: runner.name, fleet: runner.fleet, ci: runner.ci, status: runner.status },
      compute: runner.computeDetail ? `${type}/${runner.computeDetail}` : type,
      ...{ computeId: runner.computeId, spot: runner.spot, warm: runner.warm },
      ageSeconds: Math.max(0, Math.round((now - runner.createdAt) / 1000)),
      ...{ jobId: runner.jobId, createdAt: runner.createdAt },
    };
  }

  /** The cost of each released runner that was its job's own, by runner name (finished jobs' runners only). */
  private async jobCosts(jobs: readonly JobRecord[]): Promise<Map<string, { jobId: string; dollars: number }>> {
    const cost = this.deps.runnerCost;
    if (!cost) return new Map();
    const names = new Set(jobs.flatMap((job) => (job.runnerName !== null && job.status === 'completed' ? [job.runnerName] : [])));
    const runners = await Promise.all([...names].map((name) => this.deps.store.getRunner(name)));
    const costs = new Map<string, { jobId: string; dollars: number }>();
    for (const runner of runners) {
      if (runner === undefined || runner.releasedAt === null) continue;
      const dollars = cost(runner, this.specOf(runner), runner.releasedAt);
      if (dollars !== null) costs.set(runner.name, { jobId: runner.jobId, dollars });
    }
    return costs;
  }

  private jobView(job: JobRecord, costDollars: number | null): JobView {
    const { ci, jobId, fleet, status, labels, runnerName } = job;
    const { queuedAt, receivedAt, claimedAt, launchRequestedAt, launchedAt, startedAt, completedAt } = job;
    return {
      ...{ ci, jobId, fleet, status, labels, runnerName },
      timeline: { queuedAt, receivedAt, claimedAt, launchRequestedAt, launchedAt, startedAt, completedAt },
      waitSeconds: waitSeconds(job),
      costDollars,
      url: jobUrl(job),
    };
  }

  private requestView(request: FleetRequestRecord): IssueOpsRequestView {
    const { repo, issueNumber, prNumber, fleet, kind, status, updatedAt } = request;
    const repoUrl = `${this.githubWebUrl}/${repo}`;
    return {
      ...{ repo, issueNumber, issueUrl: `${repoUrl}/issues/${issueNumber}` },
      ...{ prNumber, prUrl: prNumber === null ? null : `${repoUrl}/pull/${prNumber}` },
      ...{ fleet, kind, status, updatedAt },
    };
  }
}

/** Queued at the CI system (received here, when it did not say) → started on a runner; null until it started. */
function waitSeconds(job: JobRecord): number | null {
  if (job.startedAt === null) return null;
  return Math.max(0, job.startedAt - (job.queuedAt ?? job.receivedAt)) / 1000;
}

/**
 * Where to see the job on its CI system, as far as its origin says: a GitHub job's repository's Actions
 * page (the origin keeps no run id to link the run itself). GitLab origins name the project by id only, and
 * CircleCI demand is no job of CircleCI's: none for them.
 */
function jobUrl(job: JobRecord): string | null {
  const repoUrl = job.origin.repoUrl;
  return job.ci === 'github' && typeof repoUrl === 'string' && /^https?:\/\//.test(repoUrl) ? `${repoUrl}/actions` : null;
}

/** Count, nearest-rank p50 and p95, and cumulative buckets of one fleet's waits. */
export function waitStatsOf(fleet: string, seconds: readonly number[]): WaitStats {
  const sorted = [...seconds].sort((a, b) => a - b);
  const percentile = (q: number) => (sorted.length === 0 ? null : sorted[Math.ceil(q * sorted.length) - 1]!);
  return {
    fleet,
    count: sorted.length,
    p50Seconds: percentile(0.5),
    p95Seconds: percentile(0.95),
    buckets: WAIT_BUCKETS_SECONDS.map((le) => ({ le, count: sorted.filter((wait) => wait <= le).length })),
  };
}
