import { pino } from 'pino';
import { CircleCiSource } from '../../../src/ci/circleci.js';
import { CircleCiApiError, type CircleCiAgent } from '../../../src/ci/circleci-api.js';
import { CircleCiPoller, isStarting, type CircleCiReads } from '../../../src/ci/circleci-poller.js';
import type { ComputeBackend, ComputeState, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { Scheduler } from '../../../src/jobs/scheduler.js';
import type { CredentialOwner, SecretReader } from '../../../src/secrets/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { RunnerRecord } from '../../../src/store/types.js';
import { circleciFleet, ecsFleet } from '../../helpers/fleets.js';
import { logLines } from '../../helpers/log-lines.js';

const MINUTE = 60_000;
const API_TOKEN = 'circle-api-token-poller';
const RUNNER_TOKEN = 'resource-class-token-poller';

/** CircleCI's queue in memory: unclaimed tasks and agents per resource class, and errors to answer with. */
class FakeQueue implements CircleCiReads {
  readonly unclaimed = new Map<string, number>();
  readonly agentsOf = new Map<string, CircleCiAgent[]>();
  failure: Error | undefined;
  reads = 0;

  async unclaimedTaskCount(_url: string, token: string, resourceClass: string): Promise<number> {
    this.reads++;
    if (this.failure) throw this.failure;
    if (token !== API_TOKEN) throw new CircleCiApiError('CircleCI GET /api/v3/runner/tasks answered HTTP 401', 401);
    return this.unclaimed.get(resourceClass) ?? 0;
  }
  async agents(_url: string, _token: string, resourceClass: string): Promise<CircleCiAgent[]> {
    if (this.failure) throw this.failure;
    return this.agentsOf.get(resourceClass) ?? [];
  }
  /** The named runner's agent took a task. */
  claim(resourceClass: string, runnerName: string, at: number): void {
    this.unclaimed.set(resourceClass, (this.unclaimed.get(resourceClass) ?? 0) - 1);
    const agents = this.agentsOf.get(resourceClass) ?? [];
    agents.push({ name: runnerName, firstConnectedAt: at - 1000, lastUsedAt: at });
    this.agentsOf.set(resourceClass, agents);
  }
}

class FakeCloud implements ComputeBackend {
  readonly launched: LaunchRequest[] = [];
  async launch(_fleet: FleetSpec, request: LaunchRequest) {
    this.launched.push(request);
    return { computeId: `task-${this.launched.length}`, computeDetail: 'FARGATE' };
  }
  async stop() {}
  async describe(_fleet: FleetSpec, ids: readonly string[]) {
    return new Map<string, ComputeState>(ids.map((id) => [id, 'running']));
  }
  async list() {
    return [];
  }
}

class FakeSecrets implements SecretReader {
  readonly values = new Map<string, string>();
  forgotten: string[] = [];
  async read(name: string) {
    const value = this.values.get(name);
    if (!value) throw new Error(`ParameterNotFound: ${name}`);
    return value;
  }
  forget(name: string) {
    this.forgotten.push(name);
  }
}

function setup(fleetList: FleetSpec[] = [circleciFleet('cci', 'acme/linux', { maxRunners: 5 })]) {
  const { lines: logs, sink } = logLines();
  const log = pino({ level: 'debug' }, sink);
  const clock = { now: 1_800_000_000_000 };
  const now = () => clock.now;
  const store = new SqliteStore(':memory:');
  const fleets = new FleetRegistry(fleetList);
  const cloud = new FakeCloud();
  const secrets = new FakeSecrets();
  for (const fleet of fleetList.filter((candidate) => candidate.circleci)) {
    secrets.values.set(fleet.circleci!.apiTokenParameter, API_TOKEN);
    secrets.values.set(fleet.circleci!.runnerTokenParameter, RUNNER_TOKEN);
  }
  const stored = new Map<string, string>();
  const credentials = {
    put: async (runner: CredentialOwner, value: string) => void stored.set(runner.name, value),
    delete: async () => undefined,
  };
  const scheduler = new Scheduler({ store, fleets, compute: cloud, credentials, ci: new CircleCiSource(secrets), log, now });
  const queue = new FakeQueue();
  const poller = new CircleCiPoller({ fleets, store, sink: scheduler, api: queue, secrets, log, now });
  const poll = async () => {
    const result = await poller.pass();
    await scheduler.idle();
    return result;
  };
  const runnersOf = async (fleet: string) => (await store.activeRunners()).filter((runner) => runner.fleet === fleet);
  return { logs, clock, store, fleets, cloud, secrets, stored, scheduler, queue, poller, poll, runnersOf };
}

describe('the CircleCI poller', () => {
  it("launches one runner per unclaimed task, admitted as circleci jobs of the resource class's fleet", async () => {
    const { queue, poll, cloud, store, stored, runnersOf } = setup();
    queue.unclaimed.set('acme/linux', 3);
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 3, active: 0, starting: 0, launched: 3 }]);
    expect(cloud.launched).toHaveLength(3);
    const runners = await runnersOf('cci');
    expect(runners).toHaveLength(3);
    const job = await store.getJob('circleci', runners[0].jobId);
    expect(job).toMatchObject({
      fleet: 'cci',
      labels: ['acme/linux'],
      origin: { resourceClass: 'acme/linux', url: 'https://runner.circleci.com' },
    });
    expect(JSON.parse(stored.get(runners[0].name)!)).toEqual({
      token: RUNNER_TOKEN,
      name: runners[0].name,
      url: 'https://runner.circleci.com',
      resourceClass: 'acme/linux',
    });
  });

  it('launches nothing more while earlier runners boot, and again once they have claimed their tasks', async () => {
    const { queue, poll, cloud, clock, runnersOf } = setup();
    queue.unclaimed.set('acme/linux', 2);
    await poll();
    clock.now += 15_000;
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 2, active: 2, starting: 2, launched: 0 }]);

    const [first] = await runnersOf('cci');
    queue.claim('acme/linux', first.name, clock.now);
    clock.now += 15_000;
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 1, active: 2, starting: 1, launched: 0 }]);

    // Two new tasks: the booting runner answers for one of the three unclaimed.
    queue.unclaimed.set('acme/linux', 3);
    clock.now += 15_000;
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 3, active: 2, starting: 1, launched: 2 }]);
    expect(cloud.launched).toHaveLength(4);
  });

  it('stops counting a runner as starting after the boot window, so its task gets another runner', async () => {
    const { queue, poll, clock } = setup();
    queue.unclaimed.set('acme/linux', 1);
    await poll();
    clock.now += 5 * MINUTE - 1;
    expect(await poll()).toMatchObject([{ starting: 1, launched: 0 }]);
    clock.now += 1;
    expect(await poll()).toMatchObject([{ starting: 0, launched: 1 }]);
  });

  it('never goes over maxRunners under a burst', async () => {
    const { queue, poll, cloud, runnersOf, clock } = setup();
    queue.unclaimed.set('acme/linux', 50);
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 50, active: 0, starting: 0, launched: 5 }]);
    for (const runner of await runnersOf('cci')) queue.claim('acme/linux', runner.name, clock.now);
    clock.now += 15_000;
    expect(await poll()).toEqual([{ fleet: 'cci', unclaimed: 45, active: 5, starting: 0, launched: 0 }]);
    expect(cloud.launched).toHaveLength(5);
  });

  it('reports a refused API token once per fleet, launches nothing, and says when it works again', async () => {
    const { queue, poll, secrets, logs, cloud } = setup();
    queue.unclaimed.set('acme/linux', 2);
    secrets.values.set('/fleetbot/circleci/cci/api-token', 'revoked-token');
    for (let i = 0; i < 3; i++) expect(await poll()).toEqual([{ fleet: 'cci', failed: 'API token refused (HTTP 401)' }]);
    expect(cloud.launched).toHaveLength(0);
    const refusals = logs.filter((line) => line.includes('refused the API token'));
    expect(refusals).toHaveLength(1);
    expect(JSON.parse(refusals[0])).toMatchObject({ level: 50, fleet: 'cci', resourceClass: 'acme/linux' });
    // The cached token is dropped each time, so a rotated one is read on the next pass.
    expect(secrets.forgotten).toEqual(Array(3).fill('/fleetbot/circleci/cci/api-token'));

    secrets.values.set('/fleetbot/circleci/cci/api-token', API_TOKEN);
    expect(await poll()).toMatchObject([{ launched: 2 }]);
    expect(logs.filter((line) => line.includes("accepts the fleet's API token again"))).toHaveLength(1);
    expect(logs.join('\n')).not.toContain('revoked-token');
  });

  it('logs one line for a failing poll and launches on the next pass', async () => {
    const { queue, poll, logs, cloud } = setup();
    queue.unclaimed.set('acme/linux', 1);
    queue.failure = new CircleCiApiError('CircleCI GET /api/v3/runner/tasks answered HTTP 503', 503);
    expect(await poll()).toEqual([{ fleet: 'cci', failed: 'CircleCI GET /api/v3/runner/tasks answered HTTP 503' }]);
    expect(logs.filter((line) => line.includes('CircleCI poll failed'))).toHaveLength(1);
    queue.failure = undefined;
    expect(await poll()).toMatchObject([{ launched: 1 }]);
    expect(cloud.launched).toHaveLength(1);
  });

  it('polls each fleet for its own resource class, and one failing fleet does not hold up another', async () => {
    const { queue, poll, secrets } = setup([
      circleciFleet('cci-a', 'acme/a', { maxRunners: 5 }),
      circleciFleet('cci-b', 'acme/b', { maxRunners: 5 }),
    ]);
    queue.unclaimed.set('acme/a', 1);
    queue.unclaimed.set('acme/b', 2);
    secrets.values.delete('/fleetbot/circleci/cci-a/api-token');
    expect(await poll()).toEqual([
      { fleet: 'cci-a', failed: 'ParameterNotFound: /fleetbot/circleci/cci-a/api-token' },
      { fleet: 'cci-b', unclaimed: 2, active: 0, starting: 0, launched: 2 },
    ]);
  });

  it('polls a resource class once: a second fleet for it is skipped with one warning', async () => {
    const { queue, poll, logs } = setup([
      circleciFleet('cci-first', 'acme/linux', { maxRunners: 5 }),
      circleciFleet('cci-second', 'acme/linux', { maxRunners: 5 }),
    ]);
    queue.unclaimed.set('acme/linux', 1);
    await poll();
    expect(await poll()).toEqual([
      { fleet: 'cci-first', unclaimed: 1, active: 1, starting: 1, launched: 0 },
      { fleet: 'cci-second', skipped: 'resource class served by cci-first' },
    ]);
    expect(logs.filter((line) => line.includes('this fleet is not polled'))).toHaveLength(1);
  });

  it("leaves draining fleets and other CI systems' fleets alone", async () => {
    const { queue, poll, fleets } = setup([
      circleciFleet('cci', 'acme/linux', { maxRunners: 5 }),
      ecsFleet({ name: 'github-linux', labels: ['self-hosted', 'linux'] }),
    ]);
    fleets.drain('cci');
    queue.unclaimed.set('acme/linux', 4);
    expect(await poll()).toEqual([]);
    expect(queue.reads).toBe(0);
  });

  it('logs a pass that fails as a whole, as the timer started it', async () => {
    const { poller, store, logs } = setup();
    await store.close();
    poller.start(60_000);
    await poller.stop();
    expect(logs.filter((line) => line.includes('CircleCI poll pass failed'))).toHaveLength(1);
  });

  it('drops a demand job put back in the backlog instead of launching it again', async () => {
    const { queue, poll, scheduler, store, runnersOf, cloud } = setup();
    queue.unclaimed.set('acme/linux', 1);
    await poll();
    const [runner] = await runnersOf('cci');
    // Its task stopped before the agent claimed anything: the reconciler's rule releases and requeues.
    await scheduler.releaseRunner(runner, 'task stopped', true);
    expect(await poll()).toMatchObject([{ active: 0, starting: 0, launched: 1 }]);
    expect((await store.getJob('circleci', runner.jobId))?.status).toBe('abandoned');
    expect(cloud.launched).toHaveLength(2);
    expect(await runnersOf('cci')).toHaveLength(1);
  });
});

describe('a starting runner', () => {
  const runner = { name: 'cci-1-abcdef', createdAt: 1_000_000 } as RunnerRecord;
  const window = 5 * MINUTE;

  it('is one not yet listed, or listed without a task, within the boot window', () => {
    expect(isStarting(runner, undefined, 1_000_000 + window - 1, window)).toBe(true);
    expect(isStarting(runner, { name: runner.name, firstConnectedAt: 1_010_000, lastUsedAt: undefined }, 1_020_000, window)).toBe(true);
  });

  it('takes a last use no later than the first connection for "never"', () => {
    expect(isStarting(runner, { name: runner.name, firstConnectedAt: 1_010_000, lastUsedAt: -62135596800000 }, 1_020_000, window)).toBe(
      true,
    );
  });

  it('is no longer starting once it took a task, or after the boot window', () => {
    expect(isStarting(runner, { name: runner.name, firstConnectedAt: 1_010_000, lastUsedAt: 1_015_000 }, 1_020_000, window)).toBe(false);
    expect(isStarting(runner, { name: runner.name, firstConnectedAt: undefined, lastUsedAt: 1_015_000 }, 1_020_000, window)).toBe(false);
    expect(isStarting(runner, undefined, 1_000_000 + window, window)).toBe(false);
  });
});
