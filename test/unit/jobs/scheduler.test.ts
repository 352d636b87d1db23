import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { CiSource, RunnerCredential } from '../../../src/ci/types.js';
import type { ComputeBackend, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { Scheduler, runnerNameFor } from '../../../src/jobs/scheduler.js';
import type { CredentialOwner, CredentialStore } from '../../../src/secrets/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { logLines } from '../../helpers/log-lines.js';

/** A CI source whose credential requests wait until the test lets each one finish. */
class GatedCi implements CiSource {
  readonly ci = 'github';
  readonly asked: string[] = [];
  private readonly gates: Array<() => void> = [];

  credentialLane(job: JobRecord): string {
    return `lane-${String(job.origin.installationId)}`;
  }
  async isJobQueued(): Promise<boolean> {
    return true;
  }
  async createRunnerCredential(_job: JobRecord, runner: RunnerRecord): Promise<RunnerCredential> {
    this.asked.push(runner.name);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    return { value: `secret-for-${runner.name}` };
  }
  async openNextGate(): Promise<void> {
    for (let tries = 0; this.gates.length === 0; tries++) {
      if (tries > 100) throw new Error('no credential request is waiting');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    this.gates.shift()!();
  }
}

class RecordingCompute implements ComputeBackend {
  readonly launched: LaunchRequest[] = [];
  readonly stopped: string[] = [];
  async launch(_fleet: unknown, request: LaunchRequest) {
    this.launched.push(request);
    return { computeId: `task-${request.runnerName}`, computeDetail: 'FARGATE' };
  }
  async stop(_fleet: unknown, computeId: string) {
    this.stopped.push(computeId);
  }
  async describe() {
    return new Map();
  }
  async list() {
    return [];
  }
}

class MemoryCredentials implements CredentialStore {
  readonly values = new Map<string, string>();
  async put(runner: CredentialOwner, value: string) {
    this.values.set(runner.name, value);
  }
  async delete(runner: CredentialOwner) {
    this.values.delete(runner.name);
  }
}

function setup() {
  const store = new SqliteStore(':memory:');
  const ci = new GatedCi();
  const compute = new RecordingCompute();
  const credentials = new MemoryCredentials();
  const fleet = ecsFleet({ name: 'linux', labels: ['self-hosted'] });
  const scheduler = new Scheduler({
    store,
    fleets: new FleetRegistry([fleet]),
    compute,
    credentials,
    ci,
    log: pino({ level: 'silent' }),
  });
  const queue = (jobId: string, installationId = 1) =>
    scheduler.jobQueued({ ci: 'github', jobId, labels: ['self-hosted'], origin: { installationId } });
  return { store, ci, compute, credentials, scheduler, queue };
}

describe("the scheduler's credential lanes", () => {
  it('launches every runner at once but asks for credentials one at a time per installation, in order', async () => {
    const { ci, compute, scheduler, queue, credentials } = setup();
    await Promise.all(['1', '2', '3'].map((jobId) => queue(jobId)));
    await queue('4', 2);
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(compute.launched.map((request) => request.jobId)).toEqual(['1', '2', '3', '4']);
    // Installation 1 has one request in flight; installation 2 has its own lane.
    expect(ci.asked.map((name) => name.split('-')[1]).sort()).toEqual(['1', '4']);
    for (let open = 0; open < 4; open++) await ci.openNextGate();
    await scheduler.idle();
    expect(ci.asked.map((name) => name.split('-')[1])).toEqual(['1', '4', '2', '3']);
    expect(credentials.values.size).toBe(4);
  });

  it('asks nothing for a runner released while it waited for its turn', async () => {
    const { ci, scheduler, queue, credentials, store } = setup();
    await queue('1');
    await queue('2');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = (await store.getJob('github', '2'))!.runnerName!;
    await scheduler.jobCompleted({ ci: 'github', jobId: '2', runnerName: second });
    await ci.openNextGate();
    await scheduler.idle();
    expect(ci.asked).toHaveLength(1);
    expect([...credentials.values.keys()]).toEqual([(await store.getJob('github', '1'))!.runnerName]);
  });

  it('discards a credential that arrives after its runner was released', async () => {
    const { ci, scheduler, queue, credentials, store } = setup();
    await queue('1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const runner = (await store.getJob('github', '1'))!.runnerName!;
    await scheduler.jobCompleted({ ci: 'github', jobId: '1', runnerName: runner });
    await ci.openNextGate();
    await scheduler.idle();
    expect(ci.asked).toEqual([runner]);
    expect(credentials.values.size).toBe(0);
  });
});

/** A CI source that answers at once, and cannot check the jobs in `unreachable` (as GitHub answering 5xx). */
class CheckingCi implements CiSource {
  readonly ci = 'github';
  readonly unreachable = new Set<string>();
  readonly checked: string[] = [];
  credentialLane(): string {
    return 'lane';
  }
  async isJobQueued(job: JobRecord): Promise<boolean> {
    this.checked.push(job.jobId);
    if (this.unreachable.has(job.jobId)) throw Object.assign(new Error('Bad Gateway'), { status: 502 });
    return true;
  }
  async createRunnerCredential(_job: JobRecord, runner: RunnerRecord): Promise<RunnerCredential> {
    return { value: `secret-for-${runner.name}` };
  }
}

describe('a backlog job that cannot be checked', () => {
  const launchTimeoutMs = 1_000;
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  function backlogSetup(maxRunners: number) {
    const file = join(mkdtempSync(join(tmpdir(), 'scheduler-')), 'fleetbot.db');
    const ci = new CheckingCi();
    const compute = new RecordingCompute();
    const { lines, sink } = logLines();
    const fleet = ecsFleet({ name: 'linux', labels: ['self-hosted'], maxRunners });
    const clock = { now: 0 };
    /** A scheduler on the database file; a second call is the app after a restart. */
    const start = () => {
      const store = new SqliteStore(file);
      stores.push(store);
      const scheduler = new Scheduler({
        store,
        fleets: new FleetRegistry([fleet]),
        compute,
        credentials: new MemoryCredentials(),
        ci,
        log: pino({ level: 'debug' }, sink),
        launchTimeoutMs,
        now: () => clock.now,
      });
      const queue = (jobId: string) => scheduler.jobQueued({ ci: 'github', jobId, labels: ['self-hosted'], origin: { installationId: 1 } });
      /** Completes the job on the runner launched for it, and waits for the drain that follows. */
      const complete = async (jobId: string) => {
        await scheduler.jobCompleted({ ci: 'github', jobId, runnerName: (await store.getJob('github', jobId))!.runnerName! });
        await scheduler.idle();
      };
      return { store, scheduler, queue, complete };
    };
    const launchedJobs = () => compute.launched.map((request) => request.jobId);
    const logsAbout = (jobId: string, level: number) =>
      lines.map((line) => JSON.parse(line)).filter((entry) => entry.jobId === jobId && entry.level === level);
    return { ci, clock, start, launchedJobs, logsAbout };
  }

  it('keeps its place while the jobs behind it are served, in order, and goes first once its check succeeds', async () => {
    const { ci, start, launchedJobs } = backlogSetup(1);
    const { store, scheduler, queue, complete } = start();
    for (const jobId of ['1', '2', '3', '4']) await queue(jobId);
    await scheduler.idle();
    ci.unreachable.add('2');

    await complete('1');
    expect(launchedJobs()).toEqual(['1', '3']);
    expect((await store.getJob('github', '2'))?.status).toBe('waiting');
    expect((await store.fleetCounts()).get('linux')).toEqual({ active: 1, waiting: 2 });

    // Still unreachable: tried first again, and 4 is served behind it.
    await complete('3');
    expect(ci.checked).toEqual(['2', '3', '2', '4']);
    expect(launchedJobs()).toEqual(['1', '3', '4']);

    ci.unreachable.delete('2');
    await queue('5');
    await complete('4');
    expect(launchedJobs()).toEqual(['1', '3', '4', '2']);
    expect((await store.getJob('github', '5'))?.status).toBe('waiting');
    await complete('2');
    expect(launchedJobs()).toEqual(['1', '3', '4', '2', '5']);
  });

  it('does not hold up a new job while the fleet has room, and never exceeds the maximum', async () => {
    const { ci, start, launchedJobs } = backlogSetup(2);
    const { store, scheduler, queue, complete } = start();
    for (const jobId of ['1', '2', '3']) await queue(jobId);
    await scheduler.idle();
    ci.unreachable.add('3');
    await complete('1');
    expect((await store.fleetCounts()).get('linux')).toEqual({ active: 1, waiting: 1 });

    expect((await queue('4')).kind).toBe('claimed');
    expect(await queue('5')).toMatchObject({ kind: 'waiting', position: 2, fleetFull: true });
    await scheduler.idle();
    expect(launchedJobs()).toEqual(['1', '2', '4']);
    expect((await store.activeRunners()).length).toBe(2);

    ci.unreachable.delete('3');
    await complete('2');
    expect(launchedJobs()).toEqual(['1', '2', '4', '3']);
    expect((await store.getJob('github', '5'))?.status).toBe('waiting');
    // One runner per job: the unchecked job was claimed and released, never launched twice.
    expect(new Set(launchedJobs()).size).toBe(launchedJobs().length);
  });

  it('warns once per job, with the reason, when its checks fail for longer than the launch timeout, also across a restart', async () => {
    const { ci, clock, start, launchedJobs, logsAbout } = backlogSetup(1);
    let app = start();
    for (const jobId of ['1', '2', '3']) await app.queue(jobId);
    await app.scheduler.idle();
    ci.unreachable.add('2');
    ci.unreachable.add('3');
    await app.complete('1');

    for (const at of [500, 1_000, 1_500, 3_000]) {
      clock.now = at;
      await app.scheduler.drainAll();
    }
    const warnings = logsAbout('2', 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ fleet: 'linux', uncheckedForMs: 1_500, err: { status: 502, message: 'Bad Gateway' } });
    expect(warnings[0].msg).toMatch(/could not check the job for 2s; it keeps its place in the backlog/);
    expect(logsAbout('3', 40)).toHaveLength(1);
    expect(logsAbout('2', 20).length).toBe(4);

    // The backlog, and what was already said about it, are in the store.
    await app.store.close();
    app = start();
    clock.now = 10_000;
    await app.scheduler.drainAll();
    expect(logsAbout('2', 40)).toHaveLength(1);
    expect((await app.queue('4')).kind).toBe('claimed');

    ci.unreachable.clear();
    await app.scheduler.idle();
    await app.complete('4');
    expect(launchedJobs()).toEqual(['1', '4', '2']);
  });

  it('starts counting again after a successful check', async () => {
    const { ci, clock, start, logsAbout } = backlogSetup(1);
    const { store, scheduler, queue, complete } = start();
    for (const jobId of ['1', '2']) await queue(jobId);
    await scheduler.idle();
    ci.unreachable.add('2');
    await complete('1');
    clock.now = 900;
    ci.unreachable.delete('2');
    await scheduler.drainAll();
    await scheduler.idle();
    // Its runner is lost: it waits again, checked, and fails afresh.
    const runner = (await store.getRunner((await store.getJob('github', '2'))!.runnerName!))!;
    await scheduler.releaseRunner(runner, 'task stopped', true);
    ci.unreachable.add('2');
    clock.now = 1_200;
    await scheduler.drainAll();
    clock.now = 2_100;
    await scheduler.drainAll();
    expect(logsAbout('2', 40)).toHaveLength(0);
    clock.now = 2_300;
    await scheduler.drainAll();
    expect(logsAbout('2', 40)).toHaveLength(1);
  });
});

describe('runner names', () => {
  it('are <fleet>-<job id>-<6 random characters>, unique per launch', () => {
    const names = new Set(Array.from({ length: 1000 }, () => runnerNameFor('linux-small', '123')));
    for (const name of names) expect(name).toMatch(/^linux-small-123-[0-9a-z]{6}$/);
    expect(names.size).toBeGreaterThan(990);
  });
});

describe('job starts and delivery ids in the log', () => {
  function logged() {
    const { lines, sink } = logLines();
    const store = new SqliteStore(':memory:');
    const clock = { now: 1_000 };
    const scheduler = new Scheduler({
      store,
      fleets: new FleetRegistry([ecsFleet({ name: 'linux', labels: ['self-hosted'], maxRunners: 1 })]),
      compute: new RecordingCompute(),
      credentials: new MemoryCredentials(),
      ci: new CheckingCi(),
      log: pino({ level: 'debug' }, sink),
      now: () => clock.now,
    });
    const entries = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const queue = (jobId: string, labels = ['self-hosted'], deliveryId?: string) =>
      scheduler.jobQueued({ ci: 'github', jobId, labels, origin: { installationId: 1 } }, { deliveryId });
    return { store, clock, scheduler, entries, queue };
  }

  it("records a job's start and logs its wait from queued at the CI system to started", async () => {
    const { store, scheduler, entries, queue } = logged();
    await queue('1');
    await scheduler.jobStarted(
      { ci: 'github', jobId: '1', runnerName: 'linux-1-abcdef', queuedAt: 500, startedAt: 42_500 },
      { deliveryId: 'd-start' },
    );

    expect((await store.getJob('github', '1'))?.startedAt).toBe(42_500);
    const started = entries().filter((entry) => entry.msg === 'job started after waiting 42.0 s');
    expect(started).toEqual([
      expect.objectContaining({
        level: 30,
        deliveryId: 'd-start',
        ci: 'github',
        jobId: '1',
        fleet: 'linux',
        runnerName: 'linux-1-abcdef',
        waitMs: 42_000,
      }),
    ]);
  });

  it('measures the wait from receipt when the CI system does not say when the job was queued, and from now when not when it started', async () => {
    const { store, clock, scheduler, entries, queue } = logged();
    await queue('1');
    clock.now = 4_000;
    await scheduler.jobStarted({ ci: 'github', jobId: '1' });

    expect((await store.getJob('github', '1'))?.startedAt).toBe(4_000);
    expect(entries().find((entry) => entry.msg === 'job started after waiting 3.0 s')).toMatchObject({ waitMs: 3_000 });
  });

  it('logs a start only once, and starts of jobs no fleet serves only at debug', async () => {
    const { scheduler, entries, queue } = logged();
    await queue('1');
    await queue('2', ['ubuntu-latest']);
    await scheduler.jobStarted({ ci: 'github', jobId: '1', startedAt: 2_000 });
    await scheduler.jobStarted({ ci: 'github', jobId: '1', startedAt: 3_000 });
    await scheduler.jobStarted({ ci: 'github', jobId: '2', startedAt: 2_000 });
    await scheduler.jobStarted({ ci: 'github', jobId: 'never-queued', startedAt: 2_000 });

    const infos = entries().filter((entry) => entry.level === 30 && String(entry.msg).startsWith('job started'));
    expect(infos.map((entry) => entry.jobId)).toEqual(['1']);
  });

  it("carries the delivery's id from the queued job to its launch, and from a completion to the backlog launch it frees", async () => {
    const { scheduler, entries, queue } = logged();
    await queue('1', ['self-hosted'], 'd-queued-1');
    await queue('2', ['self-hosted'], 'd-queued-2');
    await scheduler.idle();
    await scheduler.jobCompleted(
      { ci: 'github', jobId: '1', runnerName: entries().find((e) => e.msg === 'runner launched')!.runnerName as string },
      { deliveryId: 'd-completed-1' },
    );
    await scheduler.idle();

    const launches = entries().filter((entry) => entry.msg === 'runner launched');
    expect(launches.map((entry) => [entry.jobId, entry.deliveryId])).toEqual([
      ['1', 'd-queued-1'],
      ['2', 'd-completed-1'],
    ]);
    expect(entries().find((entry) => entry.msg === "job waits in the fleet's backlog")).toMatchObject({
      jobId: '2',
      deliveryId: 'd-queued-2',
    });
  });
});
