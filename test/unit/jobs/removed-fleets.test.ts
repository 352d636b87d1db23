import { pino } from 'pino';
import type { RegisteredRunner } from '../../../src/ci/types.js';
import type { ComputeBackend, ComputeState, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import type { CredentialOwner } from '../../../src/secrets/types.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { Reconciler } from '../../../src/jobs/reconciler.js';
import { REMOVED_FLEET_REASON, RemovedFleetRunners, removedFleetVerdict } from '../../../src/jobs/removed-fleets.js';
import { Scheduler } from '../../../src/jobs/scheduler.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { JobRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { logLines } from '../../helpers/log-lines.js';
import { UNTIMED } from '../../helpers/records.js';

const removed = ecsFleet({ name: 'old', labels: ['self-hosted', 'old'], compute: { cluster: 'old-cluster' } });
const known = ecsFleet({ name: 'linux', labels: ['self-hosted', 'linux'] });

function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    ci: 'github',
    jobId: '1',
    fleet: 'old',
    status: 'launched',
    labels: ['self-hosted', 'old'],
    origin: {},
    runnerName: 'old-1-aaaaaa',
    launchAttempts: 1,
    receivedAt: 1,
    startedAt: null,
    ...UNTIMED,
    updatedAt: 1,
    ...overrides,
  };
}

const registration = (state: Partial<RegisteredRunner> = {}): RegisteredRunner => ({
  id: '42',
  name: 'old-1-aaaaaa',
  online: true,
  busy: false,
  ...state,
});

describe('what becomes of a runner whose fleet is no longer configured', () => {
  it('keeps one its CI system reports busy, until its job ends', () => {
    expect(removedFleetVerdict(job(), registration({ busy: true }))).toMatchObject({
      action: 'keep',
      reason: expect.stringMatching(/busy/),
    });
  });

  it('retires an idle one, online or offline, unregistering it first', () => {
    expect(removedFleetVerdict(job(), registration())).toEqual({
      action: 'retire',
      reason: 'idle (online) at its CI system',
      unregister: '42',
    });
    expect(removedFleetVerdict(job(), registration({ online: false }))).toMatchObject({ action: 'retire', unregister: '42' });
  });

  it('retires one its CI system does not list, with nothing to unregister', () => {
    expect(removedFleetVerdict(job(), 'absent')).toEqual({ action: 'retire', reason: 'not registered at its CI system' });
  });

  it('where the CI system lists no runners, keeps one whose job started and has not finished, and retires the others', () => {
    expect(removedFleetVerdict(job({ startedAt: 5 }), 'unlisted')).toMatchObject({ action: 'keep' });
    expect(removedFleetVerdict(job(), 'unlisted')).toMatchObject({ action: 'retire' });
    expect(removedFleetVerdict(job({ startedAt: 5, status: 'completed' }), 'unlisted')).toMatchObject({ action: 'retire' });
    expect(removedFleetVerdict(undefined, 'unlisted')).toMatchObject({ action: 'retire' });
  });
});

/** Tasks in memory; stops record the fleet spec they were given. */
class FakeCloud implements ComputeBackend {
  readonly stops: { fleet: string; cluster: string; computeId: string }[] = [];
  failStops = 0;
  private launched = 0;

  async launch(_fleet: FleetSpec, _request: LaunchRequest) {
    return { computeId: `task-${++this.launched}`, computeDetail: 'FARGATE' };
  }
  async stop(fleet: FleetSpec, computeId: string) {
    if (this.failStops > 0) {
      this.failStops--;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    this.stops.push({ fleet: fleet.name, cluster: fleet.compute.type === 'ecs' ? fleet.compute.cluster : '', computeId });
  }
  async describe(_fleet: FleetSpec, computeIds: readonly string[]) {
    return new Map<string, ComputeState>(computeIds.map((id) => [id, 'running']));
  }
  async list() {
    return [];
  }
}

/** GitHub's runner list for one organisation, by runner name. */
class FakeRunners {
  readonly registered = new Map<string, RegisteredRunner>();
  readonly deleted: string[] = [];
  failLists = 0;
  busyOnDelete = false;

  readonly calls = {
    runnerScope: () => 'github:orgs/acme',
    listRegisteredRunners: async () => {
      if (this.failLists > 0) {
        this.failLists--;
        throw Object.assign(new Error('Server Error'), { status: 502 });
      }
      return [...this.registered.values()];
    },
    deleteRegisteredRunner: async (_job: JobRecord, id: string): Promise<'deleted' | 'busy'> => {
      if (this.busyOnDelete) return 'busy';
      this.deleted.push(id);
      for (const [name, runner] of this.registered) if (runner.id === id) this.registered.delete(name);
      return 'deleted';
    },
  };

  register(name: string, state: Partial<RegisteredRunner> = {}): void {
    this.registered.set(name, { id: `id-${name}`, name, online: true, busy: false, ...state });
  }
}

function setup() {
  const store = new SqliteStore(':memory:');
  const fleets = new FleetRegistry([known]);
  fleets.putProvisioned(removed);
  const cloud = new FakeCloud();
  const runners = new FakeRunners();
  const deletedCredentials: string[] = [];
  const credentials = {
    put: async () => undefined,
    delete: async (runner: CredentialOwner) => void deletedCredentials.push(runner.name),
  };
  const { lines, sink } = logLines();
  const log = pino({ level: 'debug' }, sink);
  const now = () => 1_000;
  const busyHere = new Set<string>();
  const ci = {
    ci: 'github' as const,
    credentialLane: () => 'lane',
    isJobQueued: async () => true,
    createRunnerCredential: async () => ({ value: 'jit' }),
    runnerScope: () => 'acme',
  };
  const scheduler = new Scheduler({ store, fleets, compute: cloud, credentials, ci, log, now });
  const removedFleets = new RemovedFleetRunners({
    store,
    fleets,
    compute: cloud,
    credentials,
    isBusy: (name) => busyHere.has(name),
    ci: runners.calls,
    log,
    now,
  });
  /** Queues a job for the fleet serving `label` and returns its launched runner's name. */
  const launch = async (jobId: number, label: string): Promise<string> => {
    await scheduler.jobQueued({ ci: 'github', jobId: String(jobId), labels: ['self-hosted', label], origin: { installationId: 1 } });
    await scheduler.idle();
    return (await store.getJob('github', String(jobId)))!.runnerName!;
  };
  const entries = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { store, fleets, cloud, runners, deletedCredentials, busyHere, scheduler, removedFleets, launch, entries, log, credentials };
}

describe('runners of fleets no longer configured', () => {
  it('retires an idle one (unregistered, stopped with its launch spec, released, credential deleted) and leaves the others', async () => {
    const { store, fleets, cloud, runners, deletedCredentials, busyHere, removedFleets, launch, entries } = setup();
    const idle = await launch(1, 'old');
    const busy = await launch(2, 'old');
    const inHand = await launch(3, 'old');
    const ofKnownFleet = await launch(4, 'linux');
    runners.register(idle);
    runners.register(busy, { busy: true });
    runners.register(ofKnownFleet);
    // This process is issuing its credential: the scheduler has it in hand.
    busyHere.add(inHand);
    fleets.removeProvisioned('old');

    expect(await removedFleets.look()).toEqual({ stopped: 1, kept: 1, errors: 0 });

    expect(runners.deleted).toEqual([`id-${idle}`]);
    expect(cloud.stops).toEqual([{ fleet: 'old', cluster: 'old-cluster', computeId: (await store.getRunner(idle))!.computeId }]);
    expect(await store.getRunner(idle)).toMatchObject({ status: 'released', releasedReason: REMOVED_FLEET_REASON });
    expect(deletedCredentials).toEqual([idle]);
    for (const name of [busy, inHand, ofKnownFleet]) expect((await store.getRunner(name))?.status).toBe('running');
    const lines = entries().filter((entry) => entry.fleet === 'old' && entry.reason);
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, runnerName: idle, reason: 'idle (online) at its CI system' }),
      expect.objectContaining({ level: 30, runnerName: busy, reason: expect.stringMatching(/busy/) }),
    ]);
  });

  it('says once that a busy runner was left running, then only at debug level', async () => {
    const { fleets, runners, removedFleets, launch, entries } = setup();
    const busy = await launch(1, 'old');
    runners.register(busy, { busy: true });
    fleets.removeProvisioned('old');
    await removedFleets.look();
    await removedFleets.look();
    const levels = entries()
      .filter((entry) => entry.runnerName === busy && entry.reason)
      .map((entry) => entry.level);
    expect(levels).toEqual([30, 20]);
  });

  it('stops a busy runner when its job completes, with the spec it was launched with', async () => {
    const { store, fleets, cloud, runners, scheduler, removedFleets, launch } = setup();
    const busy = await launch(1, 'old');
    runners.register(busy, { busy: true });
    fleets.removeProvisioned('old');
    await removedFleets.look();
    expect(cloud.stops).toEqual([]);

    await scheduler.jobCompleted({ ci: 'github', jobId: '1', runnerName: busy });
    await scheduler.idle();

    expect(cloud.stops).toEqual([{ fleet: 'old', cluster: 'old-cluster', computeId: (await store.getRunner(busy))!.computeId }]);
    expect((await store.getRunner(busy))?.status).toBe('released');
  });

  it('leaves a runner whose stop failed active, and stops it at the next look', async () => {
    const { store, fleets, cloud, runners, removedFleets, launch, entries } = setup();
    const idle = await launch(1, 'old');
    runners.register(idle);
    fleets.removeProvisioned('old');
    cloud.failStops = 1;

    expect(await removedFleets.look()).toEqual({ stopped: 0, kept: 0, errors: 1 });
    expect((await store.getRunner(idle))?.status).toBe('running');
    expect(entries()).toContainEqual(expect.objectContaining({ level: 40, runnerName: idle, fleet: 'old' }));

    expect(await removedFleets.look()).toMatchObject({ stopped: 1, errors: 0 });
    expect((await store.getRunner(idle))?.status).toBe('released');
    expect(cloud.stops).toHaveLength(1);
  });

  it('leaves every runner where the CI system could not be asked, and retires them at the next look', async () => {
    const { store, fleets, cloud, runners, removedFleets, launch } = setup();
    const first = await launch(1, 'old');
    const second = await launch(2, 'old');
    fleets.removeProvisioned('old');
    runners.failLists = 1;

    expect(await removedFleets.look()).toEqual({ stopped: 0, kept: 0, errors: 2 });
    expect(cloud.stops).toEqual([]);

    expect(await removedFleets.look()).toMatchObject({ stopped: 2, errors: 0 });
    for (const name of [first, second]) expect((await store.getRunner(name))?.status).toBe('released');
  });

  it('keeps a runner that took a job as it was being unregistered', async () => {
    const { store, fleets, cloud, runners, removedFleets, launch } = setup();
    const idle = await launch(1, 'old');
    runners.register(idle);
    runners.busyOnDelete = true;
    fleets.removeProvisioned('old');

    expect(await removedFleets.look()).toEqual({ stopped: 0, kept: 1, errors: 0 });
    expect(cloud.stops).toEqual([]);
    expect((await store.getRunner(idle))?.status).toBe('running');
  });

  it('releases a runner launched before launch specs were kept, and says its task must be stopped by hand', async () => {
    const { store, fleets, cloud, removedFleets, entries } = setup();
    await store.admitJob(
      { ci: 'github', jobId: '9', labels: removed.labels, origin: {} },
      { name: 'old', maxRunners: 5 },
      'old-9-bbbbbb',
      1,
    );
    await store.markRunnerLaunched('old-9-bbbbbb', 'task-legacy', 'FARGATE', 2);
    fleets.removeProvisioned('old');

    expect(await removedFleets.look()).toMatchObject({ stopped: 1 });
    expect(cloud.stops).toEqual([]);
    expect((await store.getRunner('old-9-bbbbbb'))?.status).toBe('released');
    expect(entries()).toContainEqual(
      expect.objectContaining({ level: 40, computeId: 'task-legacy', msg: expect.stringMatching(/stop its task or instance by hand/) }),
    );
  });

  it('counts and logs a look that could not read the store, and does not throw', async () => {
    const { store, fleets, cloud, credentials, log, entries } = setup();
    const failing = Object.create(store) as SqliteStore;
    failing.activeRunners = async () => {
      throw new Error('SQLITE_BUSY: database is locked');
    };
    const removedFleets = new RemovedFleetRunners({
      store: failing,
      fleets,
      compute: cloud,
      credentials,
      isBusy: () => false,
      log,
      now: () => 1,
    });

    expect(await removedFleets.look()).toEqual({ stopped: 0, kept: 0, errors: 1 });
    expect(entries()).toContainEqual(expect.objectContaining({ level: 50, msg: 'could not look at the runners of removed fleets' }));
  });

  it('are looked at by a started reconciler as soon as IssueOps removes their fleet', async () => {
    const { store, fleets, cloud, runners, scheduler, launch, log, credentials } = setup();
    const reconciler = new Reconciler({
      store,
      fleets,
      compute: cloud,
      scheduler,
      credentials,
      log,
      launchTimeoutMs: 60_000,
      ci: {
        ...runners.calls,
        isJobQueued: async () => true,
      },
    });
    const idle = await launch(1, 'old');
    runners.register(idle);
    reconciler.start(3_600_000);
    await reconciler.pass();
    expect((await store.getRunner(idle))?.status).toBe('running');

    fleets.removeProvisioned('old');
    await reconciler.stop();

    expect((await store.getRunner(idle))?.status).toBe('released');
    expect(cloud.stops.map((stop) => stop.fleet)).toEqual(['old']);
  });
});
