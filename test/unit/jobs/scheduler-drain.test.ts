import { pino } from 'pino';
import type { CiSource, RunnerCredential } from '../../../src/ci/types.js';
import type { ComputeBackend, LaunchedRunner, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { DRAINED_FLEETS_CACHE_MS, DrainedFleets } from '../../../src/jobs/drained-fleets.js';
import { Scheduler } from '../../../src/jobs/scheduler.js';
import type { CredentialStore } from '../../../src/secrets/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { logLines } from '../../helpers/log-lines.js';

class InstantCi implements CiSource {
  readonly ci = 'github';
  credentialLane(job: JobRecord): string {
    return job.jobId;
  }
  async isJobQueued(): Promise<boolean> {
    return true;
  }
  async createRunnerCredential(_job: JobRecord, runner: RunnerRecord): Promise<RunnerCredential> {
    return { value: `secret-for-${runner.name}` };
  }
  runnerScope(): string {
    return 'acme';
  }
  async warmPoolOrigin(): Promise<Record<string, unknown>> {
    return { installationId: 1, org: 'acme' };
  }
}

/** Launches at once, saying what the launch cost when told to. */
class PricedCompute implements ComputeBackend {
  readonly launched: LaunchRequest[] = [];
  priced: Partial<LaunchedRunner> = {};
  async launch(_fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    this.launched.push(request);
    return { computeId: `task-${request.runnerName}`, computeDetail: 'FARGATE_SPOT', ...this.priced };
  }
  async stop(): Promise<void> {}
  async describe() {
    return new Map();
  }
  async list() {
    return [];
  }
}

const noCredentials: CredentialStore = { put: async () => undefined, delete: async () => undefined };

function setup(fleets: FleetSpec[] = [ecsFleet({ name: 'linux', labels: ['self-hosted'], maxRunners: 2 })]) {
  const store = new SqliteStore(':memory:');
  const compute = new PricedCompute();
  const clock = { at: 1_000_000 };
  const { lines, sink } = logLines();
  const scheduler = new Scheduler({
    store,
    fleets: new FleetRegistry(fleets),
    compute,
    credentials: noCredentials,
    ci: new InstantCi(),
    log: pino({ level: 'debug' }, sink),
    now: () => clock.at,
  });
  const queue = (jobId: string) => scheduler.jobQueued({ ci: 'github', jobId, labels: ['self-hosted'], origin: { installationId: 1 } });
  return { store, compute, clock, scheduler, queue, lines };
}

/** Drains the fleet in the store, as another replica or the CLI would, and lets this replica's cached read of it lapse. */
async function drain(store: SqliteStore, clock: { at: number }): Promise<void> {
  expect(await store.setFleetDrained('linux', true, clock.at)).toBe(true);
  clock.at += DRAINED_FLEETS_CACHE_MS;
}

describe('a drained fleet', () => {
  it('takes no new runners: its new jobs wait in its backlog, visibly, while its running jobs keep theirs', async () => {
    const { store, compute, clock, scheduler, queue, lines } = setup();
    expect((await queue('1')).kind).toBe('claimed');
    await drain(store, clock);

    const waiting = await queue('2');
    await scheduler.idle();

    expect(waiting).toMatchObject({ kind: 'waiting', position: 1 });
    expect(compute.launched.map((request) => request.jobId)).toEqual(['1']);
    expect((await store.getJob('github', '1'))?.status).toBe('launched');
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; jobId?: string; drained?: boolean });
    expect(logged).toContainEqual(
      expect.objectContaining({
        jobId: '2',
        drained: true,
        msg: 'the fleet is drained: the job waits in its backlog until the fleet is undrained',
      }),
    );
  });

  it('claims nothing from its backlog when a slot frees up, and serves the backlog at once when undrained here', async () => {
    const { store, compute, clock, scheduler, queue } = setup();
    await queue('1');
    await queue('2');
    await queue('3');
    await scheduler.idle();
    await drain(store, clock);
    const runner = (await store.getJob('github', '1'))!.runnerName!;

    await scheduler.jobCompleted({ ci: 'github', jobId: '1', runnerName: runner });
    await scheduler.idle();
    expect(await scheduler.drainAll()).toBe(0);
    expect((await store.getJob('github', '3'))?.status).toBe('waiting');

    // Undrained through this replica: no wait for its cache.
    await store.setFleetDrained('linux', false, clock.at);
    await scheduler.fleetDrainChanged('linux', false);
    await scheduler.idle();
    expect((await store.getJob('github', '3'))?.status).toBe('launched');
    expect(compute.launched.map((request) => request.jobId)).toEqual(['1', '2', '3']);
  });

  it('takes effect at once when drained through this replica, cache or not', async () => {
    const { store, clock, scheduler, queue } = setup();
    expect((await queue('1')).kind).toBe('claimed');
    await store.setFleetDrained('linux', true, clock.at);
    await scheduler.fleetDrainChanged('linux', true);
    expect((await queue('2')).kind).toBe('waiting');
    await scheduler.idle();
    expect((await store.getJob('github', '2'))?.status).toBe('waiting');
  });

  it("is seen by a replica that did not drain it within DRAINED_FLEETS_CACHE_MS, and its reconcile pass serves the backlog once it's undrained", async () => {
    const { store, clock, scheduler, queue } = setup();
    expect((await queue('1')).kind).toBe('claimed');
    // Another replica drains the fleet: this one still trusts its last read for a moment.
    await store.setFleetDrained('linux', true, clock.at);
    clock.at += DRAINED_FLEETS_CACHE_MS;
    expect((await queue('2')).kind).toBe('waiting');

    await store.setFleetDrained('linux', false, clock.at);
    clock.at += DRAINED_FLEETS_CACHE_MS;
    expect(await scheduler.drainAll()).toBe(1);
    await scheduler.idle();
    expect((await store.getJob('github', '2'))?.status).toBe('launched');
  });

  it('launches no warm runners, gives its idle ones no job, and lets the reconciler release them', async () => {
    const fleet = ecsFleet({ name: 'linux', labels: ['self-hosted'], maxRunners: 3, warmRunners: { count: 1, owner: 'acme' } });
    const { store, clock, scheduler, queue } = setup([fleet]);
    expect(await scheduler.topUpWarmPool(fleet)).toBe(1);
    await scheduler.idle();
    const [warm] = await store.warmRunners('linux');
    await drain(store, clock);
    await store.releaseRunner(warm!.name, 'test', { requeueJob: false }, clock.at);

    expect(await scheduler.topUpWarmPool(fleet)).toBe(0);
    expect((await queue('1')).kind).toBe('waiting');

    await store.setFleetDrained('linux', false, clock.at);
    await scheduler.fleetDrainChanged('linux', false);
    await scheduler.idle();
    expect((await store.getJob('github', '1'))?.status).toBe('launched');
    expect(await store.warmRunners('linux')).toHaveLength(1);
  });

  it('keeps no idle warm runner while drained (the reconciler stops it)', async () => {
    const fleet = ecsFleet({ name: 'linux', labels: ['self-hosted'], maxRunners: 3, warmRunners: { count: 1, owner: 'acme' } });
    const { store, clock, scheduler } = setup([fleet]);
    await scheduler.topUpWarmPool(fleet);
    await scheduler.idle();
    const [warm] = await store.warmRunners('linux');
    expect(await scheduler.keepsWarmRunner(fleet, warm!)).toBe(true);
    await drain(store, clock);
    expect(await scheduler.keepsWarmRunner(fleet, warm!)).toBe(false);
  });
});

describe("the drained fleets' cache", () => {
  it('reads the store at most once per DRAINED_FLEETS_CACHE_MS, again at once after forget(), and keeps no failed read', async () => {
    const reads: string[][] = [['linux'], [], ['linux']];
    let failNext = false;
    let asked = 0;
    const store = {
      drainedFleets: async () => {
        asked++;
        if (failNext) {
          failNext = false;
          throw new Error('store unreachable');
        }
        return new Set(reads.shift());
      },
    };
    const clock = { at: 0 };
    const drained = new DrainedFleets(store, () => clock.at);
    expect(await drained.has('linux')).toBe(true);
    clock.at += DRAINED_FLEETS_CACHE_MS - 1;
    expect(await drained.has('linux')).toBe(true);
    expect(asked).toBe(1);
    drained.forget();
    expect(await drained.has('linux')).toBe(false);
    failNext = true;
    clock.at += DRAINED_FLEETS_CACHE_MS;
    await expect(drained.has('linux')).rejects.toThrow('store unreachable');
    expect(await drained.has('linux')).toBe(true);
    expect(asked).toBe(4);
  });
});

describe('a launch', () => {
  it("records when it was asked for and what it said of its price, with the runner's launch", async () => {
    const { store, compute, clock, scheduler, queue } = setup();
    compute.priced = { hourlyPriceDollars: 0.0123, spot: true };
    await queue('1');
    await scheduler.idle();

    const job = (await store.getJob('github', '1'))!;
    expect(job).toMatchObject({ claimedAt: clock.at, launchRequestedAt: clock.at, launchedAt: clock.at });
    expect(await store.getRunner(job.runnerName!)).toMatchObject({ launchedAt: clock.at, hourlyPriceDollars: 0.0123, spot: true });
  });

  it('records no price when the backend does not say one', async () => {
    const { store, scheduler, queue } = setup();
    await queue('1');
    await scheduler.idle();
    const job = (await store.getJob('github', '1'))!;
    expect(await store.getRunner(job.runnerName!)).toMatchObject({ hourlyPriceDollars: null, spot: null });
  });

  it('keeps the queued time the CI system gave, and none when it gave none', async () => {
    const { store, scheduler, queue } = setup();
    await scheduler.jobQueued({ ci: 'github', jobId: '1', labels: ['self-hosted'], origin: {}, queuedAt: 500 });
    await queue('2');
    expect((await store.getJob('github', '1'))?.queuedAt).toBe(500);
    expect((await store.getJob('github', '2'))?.queuedAt).toBeNull();
  });
});
