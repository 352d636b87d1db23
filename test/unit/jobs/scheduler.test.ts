import { pino } from 'pino';
import type { CiSource, RunnerCredential } from '../../../src/ci/types.js';
import type { ComputeBackend, LaunchRequest } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { Scheduler, runnerNameFor, type CredentialStore } from '../../../src/jobs/scheduler.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

/** A CI source whose credential requests wait until the test lets each one finish. */
class GatedCi implements CiSource {
  readonly provider = 'github';
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
  async put(name: string, value: string) {
    this.values.set(name, value);
  }
  async delete(name: string) {
    this.values.delete(name);
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
    scheduler.jobQueued({ provider: 'github', jobId, labels: ['self-hosted'], origin: { installationId } });
  return { store, ci, compute, credentials, scheduler, queue };
}

describe('the scheduler\'s credential lanes', () => {
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
    await scheduler.jobCompleted('github', '2', second);
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
    await scheduler.jobCompleted('github', '1', runner);
    await ci.openNextGate();
    await scheduler.idle();
    expect(ci.asked).toEqual([runner]);
    expect(credentials.values.size).toBe(0);
  });
});

describe('runner names', () => {
  it('are <fleet>-<job id>-<6 random characters>, unique per launch', () => {
    const names = new Set(Array.from({ length: 1000 }, () => runnerNameFor('linux-small', '123')));
    for (const name of names) expect(name).toMatch(/^linux-small-123-[0-9a-z]{6}$/);
    expect(names.size).toBeGreaterThan(990);
  });
});
