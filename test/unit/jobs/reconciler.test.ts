import { pino } from 'pino';
import type { CiSource } from '../../../src/ci/types.js';
import type { ComputeBackend, ComputeRunner, ComputeState, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { fleetOfRunner, Reconciler, type ReconcilerDeps } from '../../../src/jobs/reconciler.js';
import { Scheduler } from '../../../src/jobs/scheduler.js';
import type { CredentialStore, RunnerParameter, RunnerParameterStore } from '../../../src/secrets/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { ecsFleet } from '../../helpers/fleets.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Tasks in memory; `hidden` ones are left out of `list`, as an eventually consistent ListTasks may. */
class FakeCloud implements ComputeBackend {
  readonly tasks = new Map<string, string | undefined>();
  readonly hidden = new Set<string>();
  readonly failingStops = new Set<string>();
  readonly stopped: string[] = [];

  async launch(_fleet: unknown, request: LaunchRequest) {
    const computeId = `task-${this.tasks.size + 1}`;
    this.tasks.set(computeId, request.runnerName);
    return { computeId, computeDetail: 'FARGATE' };
  }
  async stop(_fleet: unknown, computeId: string) {
    if (this.failingStops.has(computeId)) throw new Error('StopTask throttled');
    this.stopped.push(computeId);
    this.tasks.delete(computeId);
  }
  async describe(_fleet: unknown, computeIds: readonly string[]) {
    return new Map<string, ComputeState>(computeIds.map((id) => [id, this.tasks.has(id) ? 'running' : 'missing']));
  }
  async list(): Promise<ComputeRunner[]> {
    return [...this.tasks]
      .filter(([computeId]) => !this.hidden.has(computeId))
      .map(([computeId, runnerName]) => ({ computeId, runnerName, state: 'running' }));
  }
  orphan(runnerName?: string): string {
    const computeId = `orphan-${this.tasks.size + 1}`;
    this.tasks.set(computeId, runnerName);
    return computeId;
  }
}

class FakeParameters implements RunnerParameterStore {
  parameters: RunnerParameter[] = [];
  lists = 0;
  failLists = 0;
  readonly deleted: string[] = [];

  async listRunnerParameters() {
    this.lists++;
    if (this.failLists > 0) {
      this.failLists--;
      throw new Error('ThrottlingException');
    }
    return this.parameters;
  }
  async deleteRunnerParameters(parameterNames: readonly string[]) {
    this.deleted.push(...parameterNames);
    this.parameters = this.parameters.filter((parameter) => !parameterNames.includes(parameter.name));
    return parameterNames.length;
  }
}

const ci: CiSource = {
  ci: 'github',
  credentialLane: () => 'lane',
  isJobQueued: async () => true,
  createRunnerCredential: async () => ({ value: 'jit' }),
};

const credentials: CredentialStore = { put: async () => undefined, delete: async () => undefined };

function setup(overrides: Partial<ReconcilerDeps> = {}) {
  const store = new SqliteStore(':memory:');
  const cloud = new FakeCloud();
  const parameters = new FakeParameters();
  const fleets = new FleetRegistry([ecsFleet({ name: 'linux', labels: ['self-hosted'] })]);
  const clock = { now: 1_000_000_000_000 };
  const now = () => clock.now;
  const log = pino({ level: 'silent' });
  const scheduler = new Scheduler({ store, fleets, compute: cloud, credentials, ci, log, now });
  const reconciler = new Reconciler({
    store,
    fleets,
    compute: cloud,
    scheduler,
    credentials,
    log,
    launchTimeoutMs: 10 * MINUTE,
    runnerParameters: parameters,
    now,
    ...overrides,
  });
  return { store, cloud, parameters, clock, reconciler };
}

describe("the reconciler's orphan rule", () => {
  it('waits five minutes by default, from the pass that first saw the orphan', async () => {
    const { cloud, clock, reconciler } = setup();
    await reconciler.pass();
    clock.now += 10 * MINUTE;
    const orphan = cloud.orphan('linux-9-unknown');
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    clock.now += 5 * MINUTE - 1;
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    clock.now += 1;
    expect((await reconciler.pass()).orphansStopped).toBe(1);
    expect(cloud.stopped).toEqual([orphan]);
  });

  it('starts the grace period again for an orphan that went out of sight and came back', async () => {
    const { cloud, clock, reconciler } = setup();
    const orphan = cloud.orphan('linux-9-unknown');
    await reconciler.pass();
    clock.now += 4 * MINUTE;
    cloud.hidden.add(orphan);
    await reconciler.pass();
    cloud.hidden.delete(orphan);
    clock.now += 2 * MINUTE;
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    clock.now += 5 * MINUTE;
    expect((await reconciler.pass()).orphansStopped).toBe(1);
  });

  it('counts a stop that fails, still stops the other orphans, and tries again on the next pass', async () => {
    const { cloud, clock, reconciler } = setup();
    const stubborn = cloud.orphan();
    const other = cloud.orphan();
    await reconciler.pass();
    cloud.failingStops.add(stubborn);
    clock.now += 5 * MINUTE;
    expect(await reconciler.pass()).toMatchObject({ orphansStopped: 1, errors: 1 });
    expect(cloud.stopped).toEqual([other]);

    cloud.failingStops.clear();
    clock.now += 30_000;
    expect((await reconciler.pass()).orphansStopped).toBe(1);
    expect(cloud.stopped).toEqual([other, stubborn]);
  });

  it('leaves alone the task of a runner claimed and launched after the pass read the store', async () => {
    const { store, cloud, clock, reconciler } = setup({ orphanGraceMs: 0 });
    // Between the pass reading the active runners and listing the cloud, a job is claimed and launched.
    const activeRunners = store.activeRunners.bind(store);
    store.activeRunners = async () => {
      const before = await activeRunners();
      await store.admitJob(
        { ci: 'github', jobId: '1', labels: ['self-hosted'], origin: {} },
        { name: 'linux', maxRunners: 5 },
        'linux-1-late',
        clock.now,
      );
      cloud.orphan('linux-1-late');
      return before;
    };
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    expect(cloud.stopped).toEqual([]);
  });

  it('stops an orphan at first sight when the grace is zero', async () => {
    const { cloud, reconciler } = setup({ orphanGraceMs: 0 });
    const orphan = cloud.orphan('linux-9-unknown');
    expect((await reconciler.pass()).orphansStopped).toBe(1);
    expect(cloud.stopped).toEqual([orphan]);
  });
});

describe("the reconciler's runner parameter sweep", () => {
  it('deletes parameters at least a day old whose runner is not active', async () => {
    const { store, parameters, clock, reconciler } = setup();
    await store.admitJob(
      { ci: 'github', jobId: '1', labels: ['self-hosted'], origin: {} },
      { name: 'elsewhere', maxRunners: 5 },
      'active-runner',
      clock.now,
    );
    parameters.parameters = [
      { name: '/fleetbot/runners/elsewhere/active-runner', runnerName: 'active-runner', lastModifiedAt: clock.now - 48 * HOUR },
      // Written before parameters had a level per fleet: still swept, by its own name.
      { name: '/fleetbot/runners/active-runner', runnerName: 'active-runner', lastModifiedAt: clock.now - 48 * HOUR },
      { name: '/fleetbot/runners/a-day-old', runnerName: 'a-day-old', lastModifiedAt: clock.now - 24 * HOUR },
      { name: '/fleetbot/runners/elsewhere/released', runnerName: 'released', lastModifiedAt: clock.now - 24 * HOUR },
      { name: '/fleetbot/runners/elsewhere/almost', runnerName: 'almost', lastModifiedAt: clock.now - 24 * HOUR + 1 },
    ];
    expect((await reconciler.pass()).parametersDeleted).toBe(2);
    expect(parameters.deleted).toEqual(['/fleetbot/runners/a-day-old', '/fleetbot/runners/elsewhere/released']);
  });

  it('lists nothing more until the interval has passed, also after a failed sweep', async () => {
    const { parameters, clock, reconciler } = setup();
    parameters.failLists = 1;
    expect((await reconciler.pass()).errors).toBe(1);
    clock.now += HOUR - 1;
    await reconciler.pass();
    expect(parameters.lists).toBe(1);
    clock.now += 1;
    expect((await reconciler.pass()).errors).toBe(0);
    expect(parameters.lists).toBe(2);
  });
});

describe('which fleet a registered runner belongs to', () => {
  const fleets = [ecsFleet({ name: 'linux' }), ecsFleet({ name: 'linux-small' })];

  it('reads it from the runner name, the longest fleet name first', () => {
    expect(fleetOfRunner(fleets, 'linux-4711-a1b2c3')?.name).toBe('linux');
    expect(fleetOfRunner(fleets, 'linux-small-4711-a1b2c3')?.name).toBe('linux-small');
  });

  it('claims no runner that fleetbot did not name', () => {
    expect(fleetOfRunner(fleets, 'build-box-1')).toBeUndefined();
    expect(fleetOfRunner(fleets, 'linux-spare')).toBeUndefined();
    expect(fleetOfRunner(fleets, 'linux-4711-A1B2C3')).toBeUndefined();
  });
});
