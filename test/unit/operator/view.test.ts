import { FleetRegistry } from '../../../src/fleets/registry.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { WAIT_BUCKETS_SECONDS } from '../../../src/metrics/instruments.js';
import { createOperatorView, UnknownFleetError, waitStatsOf, type RunnerCost } from '../../../src/operator/view.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { FleetRequestRecord, NewJob, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 2026-03-02T00:00:00Z */
const MARCH_2 = Date.UTC(2026, 2, 2);

const linux = ecsFleet({ name: 'linux', labels: ['self-hosted', 'linux'], maxRunners: 2 });
const gpu = ecsFleet({ name: 'gpu', labels: ['self-hosted', 'gpu'], maxRunners: 1 });
const arm = ecsFleet({ name: 'arm', labels: ['self-hosted', 'arm'], maxRunners: 3 });

const origin = {
  installationId: 1,
  owner: 'acme',
  repo: 'app',
  ownerUrl: 'https://github.com/acme',
  repoUrl: 'https://github.com/acme/app',
};
const githubJob = (jobId: string, queuedAt?: number): NewJob => ({ ci: 'github', jobId, labels: ['self-hosted'], origin, queuedAt });

function setup(options: { runnerCost?: RunnerCost; fleets?: FleetSpec[] } = {}) {
  const store = new SqliteStore(':memory:');
  const clock = { at: MARCH_2 + 12 * HOUR };
  const told: string[] = [];
  const registry = new FleetRegistry(options.fleets ?? [linux, gpu, arm]);
  const view = createOperatorView({
    store,
    issueOps: store.issueOps,
    fleets: registry,
    now: () => clock.at,
    drainChanged: async (fleet, drained) => {
      told.push(`${drained ? 'drained' : 'undrained'} ${fleet}`);
    },
    githubWebUrl: 'https://ghe.example.com/',
    runnerCost: options.runnerCost,
  });
  return { store, clock, told, registry, view };
}

/** A runner's cost at one dollar an hour from its launch: easy to check by hand. */
const dollarAnHour: RunnerCost = (runner: RunnerRecord, _fleet, until) =>
  runner.launchedAt === null ? null : (until - runner.launchedAt) / HOUR;

describe("the operator's view of fleets", () => {
  it("shows each fleet's capacity and backlog, and whether it serves, is full, drained or being deleted", async () => {
    const { store, view } = setup();
    const limit = (fleet: FleetSpec) => ({ name: fleet.name, maxRunners: fleet.maxRunners });
    await store.admitJob(githubJob('1'), limit(linux), 'linux-1', 1);
    await store.admitJob(githubJob('2'), limit(gpu), 'gpu-2', 2);
    await store.admitJob(githubJob('3'), limit(gpu), 'gpu-3', 3);
    await store.claimWarmRunner(limit(arm), { ...githubJob('warm:arm-w'), jobId: 'warm:arm-w' }, 'arm-w', 4);
    await store.setFleetDrained('arm', true, 5);
    await store.issueOps.putProvisionedFleet({
      ...{ name: 'win', requested: ecsFleet({ name: 'win' }), live: ecsFleet({ name: 'win', maxRunners: 4 }) },
      ...{ status: 'draining', appliedSha: 'abc', requestIssue: 9, updatedAt: 1 },
    });

    expect(await view.fleets()).toEqual([
      { name: 'linux', ci: 'github', compute: 'ecs', maxRunners: 2, active: 1, warm: 0, waiting: 0, drained: false, state: 'serving' },
      { name: 'gpu', ci: 'github', compute: 'ecs', maxRunners: 1, active: 1, warm: 0, waiting: 1, drained: false, state: 'full' },
      { name: 'arm', ci: 'github', compute: 'ecs', maxRunners: 3, active: 1, warm: 1, waiting: 0, drained: true, state: 'drained' },
      // Applied by IssueOps, not in this (a CLI's) registry: shown from the store, being deleted.
      { name: 'win', ci: 'github', compute: 'ecs', maxRunners: 4, active: 0, warm: 0, waiting: 0, drained: false, state: 'deleting' },
    ]);
  });

  it('shows a fleet this replica is deleting as deleting', async () => {
    const { registry, view } = setup();
    registry.drain('gpu');
    expect((await view.fleets()).find((fleet) => fleet.name === 'gpu')?.state).toBe('deleting');
  });
});

describe("the operator's view of runners and status", () => {
  it('lists the active runners newest first, with their compute, spot and age, by fleet when asked', async () => {
    const { store, clock, view } = setup();
    await store.admitJob(githubJob('1'), linux, 'linux-1', clock.at - 90_000);
    await store.admitJob(githubJob('2'), linux, 'linux-2', clock.at - 30_000);
    await store.admitJob(githubJob('3'), gpu, 'gpu-3', clock.at - 10_000);
    await store.markRunnerLaunched('linux-1', 'arn:task/1', 'FARGATE_SPOT', clock.at - 80_000, linux, { spot: true });
    await store.completeJob('github', '2', 'linux-2', clock.at - 1_000);

    const runners = await view.runners();
    expect(runners.map((runner) => runner.name)).toEqual(['gpu-3', 'linux-1']);
    expect(runners[1]).toEqual({
      ...{ name: 'linux-1', fleet: 'linux', ci: 'github', status: 'running', compute: 'ecs/FARGATE_SPOT', computeId: 'arn:task/1' },
      ...{ spot: true, warm: false, ageSeconds: 90, jobId: '1', createdAt: clock.at - 90_000 },
    });
    expect(runners[0]).toMatchObject({ status: 'launching', compute: 'ecs', computeId: null, spot: null });
    expect((await view.runners({ fleet: 'gpu' })).map((runner) => runner.name)).toEqual(['gpu-3']);
  });

  it("puts the fleets, the active runners and each periodic task's last pass in one status", async () => {
    const { store, clock, view } = setup();
    await store.recordTaskPass({ task: 'reconciler', holder: 'host:1:abc', startedAt: 1, finishedAt: 2, ok: true, summary: '{}' });
    const status = await view.status();
    expect(status.fleets.map((fleet) => fleet.name)).toEqual(['linux', 'gpu', 'arm']);
    expect(status.runners).toEqual([]);
    expect(status.tasks).toEqual([{ task: 'reconciler', holder: 'host:1:abc', startedAt: 1, finishedAt: 2, ok: true, summary: '{}' }]);
    expect(status.generatedAt).toBe(clock.at);
  });
});

describe("the operator's view of jobs", () => {
  it('shows each job with its timeline, its wait, its link, and the cost of the runner that ran it', async () => {
    const { store, view } = setup({ runnerCost: dollarAnHour });
    await store.admitJob(githubJob('1', 1_000), linux, 'linux-1', 3_000);
    await store.markRunnerLaunched('linux-1', 'arn:1', 'FARGATE', 5_000, linux, { requestedAt: 4_000 });
    await store.markJobStarted('github', '1', 21_000, 21_500);
    await store.completeJob('github', '1', 'linux-1', 5_000 + HOUR / 2);

    const [job] = await view.jobs({});
    expect(job).toEqual({
      ...{ ci: 'github', jobId: '1', fleet: 'linux', status: 'completed', labels: ['self-hosted'], runnerName: 'linux-1' },
      timeline: {
        ...{ queuedAt: 1_000, receivedAt: 3_000, claimedAt: 3_000, launchRequestedAt: 4_000, launchedAt: 5_000 },
        ...{ startedAt: 21_000, completedAt: 5_000 + HOUR / 2 },
      },
      waitSeconds: 20,
      costDollars: 0.5,
      url: 'https://github.com/acme/app/actions',
    });
  });

  it('measures the wait from receipt when the CI system gave no queued time, and has none before the start', async () => {
    const { store, view } = setup();
    await store.admitJob(githubJob('1'), linux, 'linux-1', 3_000);
    await store.markJobStarted('github', '1', 7_500, 8_000);
    await store.admitJob(githubJob('2'), linux, 'linux-2', 4_000);
    const jobs = await view.jobs({});
    expect(jobs.map((job) => [job.jobId, job.waitSeconds, job.costDollars])).toEqual([
      ['2', null, null],
      ['1', 4.5, null],
    ]);
  });

  it('gives no link for a job whose origin names no page of its own', async () => {
    const { store, view } = setup();
    const gitlab: NewJob = {
      ci: 'gitlab',
      jobId: 'gl-7',
      labels: ['linux'],
      origin: { instanceUrl: 'https://gitlab.example.com', projectId: 3 },
    };
    await store.admitJob(gitlab, linux, 'linux-gl', 1);
    await store.admitJob({ ...githubJob('odd'), origin: { repoUrl: 'javascript:alert(1)' } }, linux, 'linux-odd', 2);
    expect((await view.jobs({})).map((job) => job.url)).toEqual([null, null]);
  });

  it("charges a warm runner to the job that took it, not to the pool's placeholder", async () => {
    const { store, view } = setup({ runnerCost: dollarAnHour });
    await store.claimWarmRunner({ name: 'linux', maxRunners: 2 }, { ...githubJob('warm:linux-w'), jobId: 'warm:linux-w' }, 'linux-w', 0);
    await store.markRunnerLaunched('linux-w', 'arn:w', 'FARGATE', 0, linux);
    expect((await store.admitJob(githubJob('1'), linux, 'linux-1', HOUR, { useWarmRunner: true })).kind).toBe('pooled');
    await store.completeJob('github', '1', 'linux-w', 2 * HOUR);
    const costs = Object.fromEntries((await view.jobs({})).map((job) => [job.jobId, job.costDollars]));
    expect(costs).toEqual({ '1': 2, 'warm:linux-w': null });
  });

  it('filters by fleet, CI system, status and receipt, newest first, 200 at most unless asked', async () => {
    const { store, view } = setup();
    for (let id = 1; id <= 205; id++) await store.admitJob(githubJob(String(id)), { name: 'linux', maxRunners: 1 }, `linux-${id}`, id);
    expect(await view.jobs({})).toHaveLength(200);
    expect((await view.jobs({ limit: 3 })).map((job) => job.jobId)).toEqual(['205', '204', '203']);
    expect((await view.jobs({ status: 'launching' })).map((job) => job.jobId)).toEqual(['1']);
    expect((await view.jobs({ since: 204, ci: 'github', fleet: 'linux' })).map((job) => job.jobId)).toEqual(['205', '204']);
    expect(await view.jobs({ ci: 'gitlab' })).toEqual([]);
  });
});

describe("the operator's wait statistics", () => {
  it('gives each fleet its count, nearest-rank p50 and p95, and cumulative buckets over the jobs started since', async () => {
    const { store, view } = setup();
    // Twenty linux jobs waiting 1..20 s; one gpu job waiting 400 s; one received before `since`.
    for (let wait = 1; wait <= 20; wait++) {
      await store.admitJob(githubJob(`l${wait}`, 100_000), { name: 'linux', maxRunners: 100 }, `linux-${wait}`, 100_000);
      await store.markJobStarted('github', `l${wait}`, 100_000 + wait * 1000, 200_000);
    }
    await store.admitJob(githubJob('g1', 100_000), gpu, 'gpu-1', 100_000);
    await store.markJobStarted('github', 'g1', 500_000, 500_000);
    await store.admitJob(githubJob('old', 1), gpu, 'gpu-old', 50_000);

    const stats = await view.waitStats(100_000);
    expect(stats.map((fleet) => fleet.fleet)).toEqual(['arm', 'gpu', 'linux']);
    const byFleet = Object.fromEntries(stats.map((fleet) => [fleet.fleet, fleet]));
    expect(byFleet.linux).toMatchObject({ count: 20, p50Seconds: 10, p95Seconds: 19 });
    expect(byFleet.linux!.buckets.slice(0, 3)).toEqual([
      { le: 5, count: 5 },
      { le: 10, count: 10 },
      { le: 20, count: 20 },
    ]);
    expect(byFleet.gpu).toMatchObject({ count: 1, p50Seconds: 400, p95Seconds: 400 });
    expect(byFleet.gpu!.buckets.find((bucket) => bucket.le === 300)?.count).toBe(0);
    expect(byFleet.arm).toEqual({
      fleet: 'arm',
      count: 0,
      p50Seconds: null,
      p95Seconds: null,
      buckets: WAIT_BUCKETS_SECONDS.map((le) => ({ le, count: 0 })),
    });
  });

  it('uses increasing histogram bounds', () => {
    expect([...WAIT_BUCKETS_SECONDS].sort((a, b) => a - b)).toEqual(WAIT_BUCKETS_SECONDS);
    expect(waitStatsOf('x', [3]).buckets.every((bucket) => bucket.count === 1)).toBe(true);
  });
});

describe("the operator's cost per day", () => {
  it("adds each fleet's runners up on the UTC day they were released, an active runner today until now", async () => {
    const { store, clock, view } = setup({ runnerCost: dollarAnHour });
    const launch = async (jobId: string, fleet: FleetSpec, at: number) => {
      const name = `${fleet.name}-${jobId}`;
      await store.admitJob(githubJob(jobId), { name: fleet.name, maxRunners: 10 }, name, at);
      await store.markRunnerLaunched(name, `arn:${jobId}`, 'FARGATE', at, fleet);
      return name;
    };
    await store.releaseRunner(await launch('1', linux, MARCH_2 - DAY - 3 * HOUR), 'done', { requeueJob: false }, MARCH_2 - DAY - HOUR);
    await store.releaseRunner(await launch('2', linux, MARCH_2 + HOUR), 'done', { requeueJob: false }, MARCH_2 + 2 * HOUR);
    await store.releaseRunner(await launch('3', gpu, MARCH_2 + HOUR), 'done', { requeueJob: false }, MARCH_2 + 5 * HOUR);
    await launch('4', linux, clock.at - 3 * HOUR);
    await store.releaseRunner(await launch('5', gpu, MARCH_2 - 3 * DAY), 'done', { requeueJob: false }, MARCH_2 - 3 * DAY + HOUR);

    expect(await view.costPerDay(MARCH_2 - 2 * DAY)).toEqual([
      { fleet: 'linux', day: '2026-02-28', dollars: 2 },
      { fleet: 'gpu', day: '2026-03-02', dollars: 4 },
      { fleet: 'linux', day: '2026-03-02', dollars: 4 },
    ]);
  });

  it('is empty without a cost function, and leaves out runners it cannot price', async () => {
    const unpriced = setup();
    await unpriced.store.admitJob(githubJob('1'), linux, 'linux-1', 1);
    expect(await unpriced.view.costPerDay(0)).toEqual([]);
    const priced = setup({ runnerCost: dollarAnHour });
    await priced.store.admitJob(githubJob('1'), linux, 'linux-1', 1);
    expect(await priced.view.costPerDay(0)).toEqual([]);
  });
});

describe("the operator's IssueOps requests", () => {
  const request = (issueNumber: number, prNumber: number | null, updatedAt: number): FleetRequestRecord => ({
    ...{ repo: 'acme/fleets', issueNumber, kind: 'create', installationId: 1, author: 'octocat', fleet: null, status: 'invalid' },
    ...{ detail: 'labels: required', spec: null, prNumber, branch: null, plannedSha: null, planFile: null, plannedAt: null },
    ...{ planSummary: null, appliedSha: null, createdAt: 1, updatedAt },
  });

  it('links each request to its issue and pull request on the GitHub it lives on, newest first', async () => {
    const { store, view } = setup();
    await store.issueOps.saveRequest(request(4, null, 10));
    await store.issueOps.saveRequest(request(7, 8, 20));
    expect(await view.issueOpsRequests()).toEqual([
      {
        ...{ repo: 'acme/fleets', issueNumber: 7, issueUrl: 'https://ghe.example.com/acme/fleets/issues/7' },
        ...{
          prNumber: 8,
          prUrl: 'https://ghe.example.com/acme/fleets/pull/8',
          fleet: null,
          kind: 'create',
          status: 'invalid',
          updatedAt: 20,
        },
      },
      expect.objectContaining({ issueNumber: 4, prNumber: null, prUrl: null }),
    ]);
    expect(await view.issueOpsRequests(1)).toHaveLength(1);
  });

  it('is empty without IssueOps', async () => {
    const store = new SqliteStore(':memory:');
    const view = createOperatorView({ store, fleets: new FleetRegistry([linux]) });
    expect(await view.issueOpsRequests()).toEqual([]);
    expect(await view.costPerDay(0)).toEqual([]);
  });
});

describe('draining from the operator', () => {
  it('drains and undrains a fleet, says whether that changed anything, and tells the scheduler of each change', async () => {
    const { store, told, view } = setup();
    expect(await view.drain('linux')).toEqual({ fleet: 'linux', drained: true, changed: true });
    expect(await view.drain('linux')).toEqual({ fleet: 'linux', drained: true, changed: false });
    expect(await store.drainedFleets()).toEqual(new Set(['linux']));
    expect(told).toEqual(['drained linux']);
    expect(await view.undrain('linux')).toEqual({ fleet: 'linux', drained: false, changed: true });
    expect(await view.undrain('linux')).toEqual({ fleet: 'linux', drained: false, changed: false });
    expect(told).toEqual(['drained linux', 'undrained linux']);
  });

  it('refuses a fleet it does not know, changing nothing', async () => {
    const { store, view } = setup();
    await expect(view.drain('nope')).rejects.toThrow(new UnknownFleetError('nope'));
    await expect(view.undrain('nope')).rejects.toBeInstanceOf(UnknownFleetError);
    expect(await store.drainedFleets()).toEqual(new Set());
  });
});
