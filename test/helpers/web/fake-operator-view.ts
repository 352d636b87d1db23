import {
  UnknownFleetError,
  type FleetCostDay,
  type FleetOverview,
  type IssueOpsRequestView,
  type JobQuery,
  type JobView,
  type OperatorView,
  type RunnerView,
  type WaitStats,
} from '../../../src/operator/types.js';
import type { TaskPass } from '../../../src/store/types.js';

/**
 * A small in-memory OperatorView, typed by the interface, for the dashboard's tests that want data the
 * store would take long to build (the real one, src/operator/view.ts, is under test in
 * test/browser/dashboard-app.test.ts): fixed data, filtering as the interface documents, and drains that
 * change the fleet's state. `calls` records each query so tests can see what the routes asked.
 */
export class FakeOperatorView implements OperatorView {
  readonly calls: { method: string; argument: unknown }[] = [];
  tasks: TaskPass[] = [];

  constructor(
    public fleetList: FleetOverview[],
    public runnerList: RunnerView[] = [],
    public jobList: JobView[] = [],
    public waits: WaitStats[] = [],
    public costs: FleetCostDay[] = [],
    public requests: IssueOpsRequestView[] = [],
    private readonly now: () => number = Date.now,
  ) {}

  async status() {
    return { fleets: await this.fleets(), runners: this.runnerList, tasks: this.tasks, generatedAt: this.now() };
  }

  async fleets() {
    return this.fleetList.map((fleet) => ({ ...fleet }));
  }

  async runners(filter: { fleet?: string } = {}) {
    this.calls.push({ method: 'runners', argument: filter });
    return this.runnerList.filter((runner) => filter.fleet === undefined || runner.fleet === filter.fleet);
  }

  async jobs(query: JobQuery) {
    this.calls.push({ method: 'jobs', argument: query });
    return this.jobList
      .filter((job) => query.fleet === undefined || job.fleet === query.fleet)
      .filter((job) => query.ci === undefined || job.ci === query.ci)
      .filter((job) => query.status === undefined || job.status === query.status)
      .filter((job) => query.since === undefined || (job.timeline.receivedAt ?? 0) >= query.since)
      .slice(0, query.limit ?? 200);
  }

  async waitStats(since: number) {
    this.calls.push({ method: 'waitStats', argument: since });
    return this.waits;
  }

  async costPerDay(since: number) {
    this.calls.push({ method: 'costPerDay', argument: since });
    return this.costs;
  }

  async issueOpsRequests(limit?: number) {
    return this.requests.slice(0, limit);
  }

  async drain(fleet: string) {
    return this.setDrained(fleet, true);
  }

  async undrain(fleet: string) {
    return this.setDrained(fleet, false);
  }

  private setDrained(name: string, drained: boolean) {
    const fleet = this.fleetList.find((candidate) => candidate.name === name);
    if (!fleet) throw new UnknownFleetError(name);
    const changed = fleet.drained !== drained;
    fleet.drained = drained;
    fleet.state = drained ? 'drained' : fleet.active >= fleet.maxRunners ? 'full' : 'serving';
    return { fleet: name, drained, changed };
  }
}

export function fleet(name: string, overrides: Partial<FleetOverview> = {}): FleetOverview {
  return {
    name,
    ci: 'github',
    compute: 'ecs',
    maxRunners: 10,
    active: 0,
    warm: 0,
    waiting: 0,
    drained: false,
    state: 'serving',
    ...overrides,
  };
}

export function job(jobId: string, receivedAt: number, overrides: Partial<JobView> = {}): JobView {
  return {
    ci: 'github',
    jobId,
    fleet: 'linux',
    status: 'completed',
    labels: ['self-hosted', 'linux'],
    runnerName: `linux-${jobId}-abc123`,
    timeline: {
      queuedAt: receivedAt - 2_000,
      receivedAt,
      claimedAt: receivedAt + 10,
      launchRequestedAt: receivedAt + 20,
      launchedAt: receivedAt + 3_000,
      startedAt: receivedAt + 25_000,
      completedAt: receivedAt + 120_000,
    },
    waitSeconds: 27,
    costDollars: 0.004,
    url: `https://github.com/acme/app/actions/runs/1/job/${jobId}`,
    ...overrides,
  };
}

export function runner(name: string, fleetName: string, overrides: Partial<RunnerView> = {}): RunnerView {
  return {
    name,
    fleet: fleetName,
    ci: 'github',
    status: 'running',
    compute: 'ecs FARGATE_SPOT',
    computeId: `arn:aws:ecs:eu-west-1:123456789012:task/runners/${name}`,
    spot: true,
    warm: false,
    ageSeconds: 95,
    jobId: '1',
    createdAt: 0,
    ...overrides,
  };
}

/** Cumulative buckets as the real histogram has them. */
export function waitStats(fleetName: string, perBucket: number[], bounds = [5, 10, 30, 60, 120, 300, 600, Infinity]): WaitStats {
  let total = 0;
  const buckets = bounds.map((le, index) => ({ le, count: (total += perBucket[index] ?? 0) }));
  return { fleet: fleetName, count: total, p50Seconds: 12, p95Seconds: 240, buckets };
}
