import { launchedAtOf } from '../../../src/cost/estimate.js';
import { PRICES } from '../../../src/cost/prices.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import type { AppUnderTest } from '../../helpers/app-harness.js';
import { createRunnerInfra } from '../../helpers/aws-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { describeWithMoto } from '../../helpers/moto.js';
import { useMotoAndGitHub } from '../../helpers/moto-and-github.js';
import { completedJob, queuedJob, startedJob } from '../../helpers/payloads.js';
import { sample } from '../../helpers/prometheus-text.js';

const FLEET = 'linux-small';
const github = { ci: 'github', fleet: FLEET };

describeWithMoto('the metrics after a burst of workflow_job events (GET /metrics text)', () => {
  const env = useMotoAndGitHub();

  async function fleet(): Promise<FleetSpec> {
    const infra = await createRunnerInfra(env.moto, 'metrics-burst');
    return ecsFleet({
      name: FLEET,
      maxRunners: 2,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
  }

  const scrape = (app: AppUnderTest) => app.fleetbot.metrics.registry.metrics();
  const runnerOf = async (app: AppUnderTest, jobId: number) => (await app.store.getJob('github', String(jobId)))!.runnerName!;
  const iso = (ms: number) => new Date(ms).toISOString();

  /** An in_progress delivery: queued `waitedMs` before it started, started `startedInMs` from now. */
  async function start(app: AppUnderTest, jobId: number, waitedMs: number, startedInMs: number): Promise<number> {
    const startedAt = Math.floor((Date.now() + startedInMs) / 1000) * 1000;
    const runnerName = await runnerOf(app, jobId);
    await app.deliver(
      'workflow_job',
      startedJob({ jobId, org: 'acme', runnerName, createdAt: iso(startedAt - waitedMs), startedAt: iso(startedAt) }),
    );
    return startedAt;
  }

  it('counts admissions, launches and ends, sums waits as the payloads say, and prices released runners', async () => {
    const spec = await fleet();
    const app = await env.startApp({ fleets: [spec] });
    for (const jobId of [1, 2, 3, 4]) await app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    await app.deliver('workflow_job', queuedJob({ jobId: 1, org: 'acme' }));
    await app.deliver('workflow_job', queuedJob({ jobId: 5, org: 'acme', labels: ['self-hosted', 'gpu'] }));

    let text = await scrape(app);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'launched' })).toBe(2);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'waiting' })).toBe(2);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'duplicate' })).toBe(1);
    expect(sample(text, 'fleetbot_jobs_total', { ci: 'github', fleet: '', outcome: 'unmatched' })).toBe(1);
    expect(sample(text, 'fleetbot_backlog_jobs', { fleet: FLEET })).toBe(2);
    expect(sample(text, 'fleetbot_runners', { fleet: FLEET, state: 'running' })).toBe(2);
    expect(sample(text, 'fleetbot_launch_seconds_count', { fleet: FLEET, compute: 'ecs' })).toBe(2);

    const [runner1, runner2] = await Promise.all([1, 2].map(async (jobId) => (await app.store.getRunner(await runnerOf(app, jobId)))!));
    const started1 = await start(app, 1, 42_000, 30_000);
    const started2 = await start(app, 2, 90_000, 0);
    // A redelivered start is not a second wait.
    await start(app, 2, 90_000, 0);
    text = await scrape(app);
    expect(sample(text, 'fleetbot_job_wait_seconds_count', github)).toBe(2);
    expect(sample(text, 'fleetbot_job_wait_seconds_sum', github)).toBe(132);
    expect(sample(text, 'fleetbot_job_wait_seconds_bucket', { ...github, le: '60' })).toBe(1);
    expect(sample(text, 'fleetbot_job_wait_seconds_bucket', { ...github, le: '120' })).toBe(2);
    // Each job started on the runner launched for it: launch to start (never below 0: GitHub's clock may lag).
    const ready = (startedAt: number, runner: typeof runner1) => Math.max(0, startedAt - launchedAtOf(runner)!) / 1000;
    expect(sample(text, 'fleetbot_runner_ready_seconds_count', { fleet: FLEET })).toBe(2);
    expect(sample(text, 'fleetbot_runner_ready_seconds_sum', { fleet: FLEET })).toBeCloseTo(
      ready(started1, runner1) + ready(started2, runner2),
      6,
    );

    const complete = async (jobId: number, conclusion: string) =>
      app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName: await runnerOf(app, jobId), conclusion }));
    await complete(1, 'success');
    await complete(2, 'cancelled');
    await complete(2, 'cancelled');
    await start(app, 3, 300_000, 0);
    await complete(3, 'failure');

    text = await scrape(app);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'completed' })).toBe(1);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'cancelled' })).toBe(1);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'failed' })).toBe(1);
    // The two freed slots went to the backlog's jobs 3 and 4.
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'launched' })).toBe(4);
    expect(sample(text, 'fleetbot_job_wait_seconds_sum', github)).toBe(432);
    expect(sample(text, 'fleetbot_backlog_jobs', { fleet: FLEET })).toBe(0);
    expect(sample(text, 'fleetbot_runners', { fleet: FLEET, state: 'running' })).toBe(1);
    // Three Fargate tasks (1 vCPU, 2 GiB) ran under a minute each: AWS bills a minute each, at us-east-1's list price.
    const { vcpuHourDollars, gbHourDollars } = PRICES['us-east-1'].fargate;
    expect(sample(text, 'fleetbot_job_cost_dollars_total', { fleet: FLEET })).toBeCloseTo(
      (3 * (vcpuHourDollars + 2 * gbHourDollars)) / 60,
      9,
    );
    expect(sample(text, 'fleetbot_fleet_max_runners', { fleet: FLEET })).toBe(2);
  });

  it('reads the gauges from the store after a restart; counters start again', async () => {
    const spec = await fleet();
    const first = await env.startApp({ fleets: [spec] });
    for (const jobId of [11, 12, 13]) await first.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    await first.close();

    const restarted = await env.startApp({ fleets: [spec], databaseFile: first.databaseFile });
    const text = await scrape(restarted);
    expect(sample(text, 'fleetbot_runners', { fleet: FLEET, state: 'running' })).toBe(2);
    expect(sample(text, 'fleetbot_runners', { fleet: FLEET, state: 'launching' })).toBe(0);
    expect(sample(text, 'fleetbot_backlog_jobs', { fleet: FLEET })).toBe(1);
    expect(sample(text, 'fleetbot_fleet_max_runners', { fleet: FLEET })).toBe(2);
    expect(sample(text, 'fleetbot_jobs_total', { ...github, outcome: 'launched' })).toBeUndefined();
  });
});
