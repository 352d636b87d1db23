import { jest } from '@jest/globals';
import { pino } from 'pino';
import { recoverDeliveries, type HookDelivery } from '../../../src/ci/github-deliveries.js';
import type { CiCalls } from '../../../src/ci/router.js';
import { CapacityError, type ComputeBackend } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { launchFailureReason, meterCompute, meterCredentials, meterJobSink, type ObserverDeps } from '../../../src/metrics/decorators.js';
import type { FleetBacklogs, JobSink } from '../../../src/ci/types.js';
import { createMetrics, type FleetbotMetrics } from '../../../src/metrics/instruments.js';
import { rateLimitPlugin } from '../../../src/metrics/octokit.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ec2Error } from '../../helpers/ec2-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { sample } from '../../helpers/prometheus-text.js';

const fleet = ecsFleet({ name: 'linux-small', maxRunners: 5 });
const log = pino({ level: 'silent' });

/** An AWS SDK error as the SDK raises it: its error code as its name, and its throttling flag when it has one. */
function awsError(name: string, throttling?: boolean): Error {
  return Object.assign(new Error(`${name} (test)`), { name, ...(throttling === undefined ? {} : { $retryable: { throttling } }) });
}

describe('launch failure reasons', () => {
  it.each<[string, string, unknown]>([
    ['no capacity anywhere the fleet allows', 'capacity', new CapacityError('no capacity for fleet linux-small')],
    ["EC2's RequestLimitExceeded", 'throttled', ec2Error('RequestLimitExceeded')],
    ["ECS's ThrottlingException", 'throttled', awsError('ThrottlingException')],
    ["Auto Scaling's Throttling", 'throttled', awsError('Throttling')],
    ['any error the SDK flags as throttling', 'throttled', awsError('SomethingNew', true)],
    ['an invalid request', 'other', awsError('InvalidParameterException', false)],
    ['a network failure', 'other', new Error('socket hang up')],
    ['something not an Error', 'other', 'a string'],
  ])('%s → %s', (_case, reason, error) => {
    expect(launchFailureReason(error)).toBe(reason);
  });
});

describe('the compute and CI-call observers', () => {
  let store: SqliteStore;
  let metrics: FleetbotMetrics;
  let deps: ObserverDeps;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
    metrics = createMetrics();
    deps = { metrics, store, fleets: new FleetRegistry([fleet]), log, now: Date.now };
  });
  afterEach(() => store.close());

  const failing = (error: unknown): ComputeBackend => ({
    launch: () => Promise.reject(error),
    stop: () => Promise.resolve(),
    describe: () => Promise.resolve(new Map()),
    list: () => Promise.resolve([]),
  });
  const request = { runnerName: 'linux-small-1-abcdef', jobId: '1', credentialParameter: '/fleetbot/runners/linux-small/x' };

  it('counts each failed launch by reason, and passes the failure on to the scheduler', async () => {
    for (const error of [new CapacityError('full'), new CapacityError('full'), ec2Error('RequestLimitExceeded'), new Error('boom')]) {
      await expect(meterCompute(failing(error), deps).launch(fleet, request)).rejects.toBe(error);
    }
    const text = await metrics.registry.metrics();
    expect(sample(text, 'fleetbot_launch_failures_total', { fleet: 'linux-small', reason: 'capacity' })).toBe(2);
    expect(sample(text, 'fleetbot_launch_failures_total', { fleet: 'linux-small', reason: 'throttled' })).toBe(1);
    expect(sample(text, 'fleetbot_launch_failures_total', { fleet: 'linux-small', reason: 'other' })).toBe(1);
  });

  it('counts a credential the CI system would not give as a credential failure; other calls go through untouched', async () => {
    const refusal = new Error('422 from GitHub');
    const ci: CiCalls = {
      createRunnerCredential: () => Promise.reject(refusal),
      isJobQueued: () => Promise.resolve(true),
      credentialLane: () => 'installation-1',
    };
    const metered = meterCredentials(ci, metrics);
    await expect(metered.createRunnerCredential({} as JobRecord, {} as RunnerRecord, fleet)).rejects.toBe(refusal);
    expect(metered.credentialLane({} as JobRecord)).toBe('installation-1');
    expect(await metered.isJobQueued({} as JobRecord)).toBe(true);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'fleetbot_launch_failures_total', { fleet: 'linux-small', reason: 'credential' })).toBe(1);
  });

  it('times a launch from the claim of its slot, and counts its job launched; a warm runner launches no job', async () => {
    const admitted = await store.admitJob({ ci: 'github', jobId: '7', labels: [], origin: {} }, fleet, 'linux-small-7-abcdef', 1_000, {});
    expect(admitted.kind).toBe('claimed');
    const launched = { computeId: 'arn:task/7', computeDetail: 'FARGATE' };
    const compute: ComputeBackend = { ...failing(undefined), launch: () => Promise.resolve(launched) };
    const metered = meterCompute(compute, { ...deps, now: () => 3_500 });
    expect(await metered.launch(fleet, { ...request, runnerName: 'linux-small-7-abcdef', jobId: '7' })).toBe(launched);
    const warm = await store.claimWarmRunner(fleet, { ci: 'github', jobId: 'warm:w', labels: [], origin: {} }, 'linux-small-warm-w', 2_000);
    await metered.launch(fleet, { ...request, runnerName: warm!.runner.name, jobId: 'warm:w' });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'fleetbot_launch_seconds_count', { fleet: 'linux-small', compute: 'ecs' })).toBe(2);
    expect(sample(text, 'fleetbot_launch_seconds_sum', { fleet: 'linux-small', compute: 'ecs' })).toBe(2.5 + 1.5);
    expect(sample(text, 'fleetbot_jobs_total', { ci: 'github', fleet: 'linux-small', outcome: 'launched' })).toBe(1);
  });
});

describe('an observation that fails', () => {
  it("never fails the event it observes: the scheduler still hears of the job's start and end", async () => {
    const store = new SqliteStore(':memory:');
    jest.spyOn(store, 'getJob').mockRejectedValue(new Error('throttled read'));
    const heard: string[] = [];
    const sink: JobSink & FleetBacklogs = {
      jobQueued: () => Promise.reject(new Error('not in this test')),
      jobStarted: (started) => Promise.resolve(void heard.push(`started ${started.jobId}`)),
      jobCompleted: (completed) => Promise.resolve(void heard.push(`completed ${completed.jobId}`)),
      drainFleet: () => Promise.resolve(0),
    };
    const metered = meterJobSink(sink, { metrics: createMetrics(), store, fleets: new FleetRegistry([fleet]), log, now: Date.now });
    await metered.jobStarted({ ci: 'github', jobId: '9', startedAt: 2_000, queuedAt: 1_000 });
    await metered.jobCompleted({ ci: 'github', jobId: '9', conclusion: 'success' });
    expect(heard).toEqual(['started 9', 'completed 9']);
    expect(await metered.drainFleet(fleet)).toBe(0);
    await store.close();
  });
});

describe("GitHub's rate limit and recovered deliveries", () => {
  it('keeps the latest x-ratelimit-remaining per installation, from answers and from errors', async () => {
    const metrics = createMetrics();
    const hooks = (auth?: unknown) => {
      const seen: { after?: (response: { headers: Record<string, unknown> }) => void; error?: (error: unknown) => unknown } = {};
      rateLimitPlugin(metrics)(
        { hook: { after: (_name, hook) => (seen.after = hook), error: (_name, hook) => (seen.error = hook) } },
        { auth },
      );
      return seen;
    };
    const installation = hooks({ installationId: 42 });
    installation.after!({ headers: { 'x-ratelimit-remaining': '4999' } });
    installation.after!({ headers: { 'x-ratelimit-remaining': '4998' } });
    const exhausted = Object.assign(new Error('rate limited'), { response: { headers: { 'x-ratelimit-remaining': '0' } } });
    const app = hooks(undefined);
    expect(() => app.error!(exhausted)).toThrow(exhausted);
    app.after!({ headers: {} });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'fleetbot_github_rate_limit_remaining', { installation: '42' })).toBe(4998);
    expect(sample(text, 'fleetbot_github_rate_limit_remaining', { installation: 'app' })).toBe(0);
  });

  it('counts each redelivery asked of GitHub by its event', async () => {
    const metrics = createMetrics();
    const store = new SqliteStore(':memory:');
    const failed = (id: number, event: string): HookDelivery => ({
      id,
      guid: `guid-${id}`,
      delivered_at: new Date().toISOString(),
      redelivery: false,
      status_code: 502,
      event,
      action: null,
    });
    const api = {
      async *pages() {
        yield [failed(3, 'workflow_job'), failed(2, 'issues'), failed(1, 'workflow_job')];
      },
      redeliver: () => Promise.resolve(),
    };
    const onRecovered = (event: string) => metrics.deliveriesRecovered.inc({ event });
    await recoverDeliveries({ api, deliveries: store.deliveries, log, onRecovered });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'fleetbot_deliveries_recovered_total', { event: 'workflow_job' })).toBe(2);
    expect(sample(text, 'fleetbot_deliveries_recovered_total', { event: 'issues' })).toBe(1);
    await store.close();
  });
});
