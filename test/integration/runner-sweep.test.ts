import type { FleetSpec } from '../../src/fleets/spec.js';
import { OFFLINE_DELETIONS_PER_SWEEP } from '../../src/jobs/reconciler.js';
import type { AppUnderTest } from '../helpers/app-harness.js';
import { createRunnerInfra, fleetbotTasks, readParameter, type RunnerInfra } from '../helpers/aws-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

const RUNNER_DELETE = /^\/orgs\/acme\/actions\/runners\/\d+$/;
const RUNNER_LIST = /^\/orgs\/acme\/actions\/runners$/;

describeWithMoto('the reconciler and the runners registered at GitHub', () => {
  const env = useMotoAndGitHub({ holdEcsTasksRunning: true });
  let clusterCount = 0;
  let clock = Date.now();
  let jobId = 7000;

  async function startWithFleet(): Promise<{ fleet: FleetSpec; infra: RunnerInfra; app: AppUnderTest }> {
    const infra = await createRunnerInfra(env.moto, `sweep-${++clusterCount}`);
    const fleet = ecsFleet({
      name: `sweep${clusterCount}`,
      idleTimeoutSeconds: 300,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const app = await env.startApp({ fleets: [fleet], tuning: { runnerSweepIntervalMs: 0, orphanGraceMs: 0, now: () => clock } });
    return { fleet, infra, app };
  }

  /** Queues a job and returns the name of the runner launched for it. */
  async function launchFor(app: AppUnderTest, id: number): Promise<string> {
    await app.deliver('workflow_job', queuedJob({ jobId: id, org: 'acme', labels: ['self-hosted', 'linux'] }));
    const job = await app.store.getJob('github', String(id));
    if (!job?.runnerName) throw new Error(`no runner was launched for job ${id}`);
    return job.runnerName;
  }

  const registered = (name: string) => env.github.registeredRunners().find((runner) => runner.name === name);
  const liveTasks = async (cluster: string) => (await fleetbotTasks(env.moto, cluster)).filter((task) => task.lastStatus !== 'STOPPED');

  it("unregisters an offline runner whose runner was released, and leaves a booting one and other people's runners alone", async () => {
    const { app } = await startWithFleet();
    const finished = await launchFor(app, ++jobId);
    const booting = await launchFor(app, ++jobId);
    // The job finished but the runner's registration stayed behind (it died before it could remove itself).
    await app.deliver('workflow_job', completedJob({ jobId: jobId - 1, org: 'acme', runnerName: finished }));
    env.github.registerRunner('orgs/acme', 'build-box-1');
    // Named like the fleet, but not as fleetbot names runners.
    env.github.registerRunner('orgs/acme', `sweep${clusterCount}-unrelated`);

    const summary = await app.fleetbot.reconciler.pass();

    expect(summary.offlineRunnersDeleted).toBe(1);
    expect(registered(finished)).toBeUndefined();
    expect(registered(booting)).toBeDefined();
    expect(registered('build-box-1')).toBeDefined();
    expect(registered(`sweep${clusterCount}-unrelated`)).toBeDefined();
  });

  it('unregisters at most OFFLINE_DELETIONS_PER_SWEEP offline runners a sweep, and the rest at the next sweeps', async () => {
    const { app } = await startWithFleet();
    await launchFor(app, ++jobId);
    const leftovers = Array.from(
      { length: OFFLINE_DELETIONS_PER_SWEEP + 5 },
      (_, index) => `sweep${clusterCount}-${90_000 + index}-abc${String(index).padStart(3, '0')}`,
    );
    for (const name of leftovers) env.github.registerRunner('orgs/acme', name);

    expect((await app.fleetbot.reconciler.pass()).offlineRunnersDeleted).toBe(OFFLINE_DELETIONS_PER_SWEEP);
    expect(leftovers.filter(registered)).toHaveLength(5);
    expect((await app.fleetbot.reconciler.pass()).offlineRunnersDeleted).toBe(5);
    expect(leftovers.filter(registered)).toEqual([]);
  });

  it('removes a runner idle past its timeout whose job another runner took: unregistered, task stopped, credential gone', async () => {
    const { infra, app } = await startWithFleet();
    const idle = await launchFor(app, ++jobId);
    const other = await launchFor(app, ++jobId);
    env.github.setRunnerState(idle, { status: 'online' });
    env.github.setRunnerState(other, { status: 'online', busy: true });
    // GitHub gave the idle runner's job to the other one, which ran it.
    env.github.setJobStatus(jobId - 1, 'in_progress');

    expect((await app.fleetbot.reconciler.pass()).idleRunnersRemoved).toBe(0);
    clock += 301_000;
    const summary = await app.fleetbot.reconciler.pass();

    expect(summary.idleRunnersRemoved).toBe(1);
    expect(registered(idle)).toBeUndefined();
    expect(registered(other)).toBeDefined();
    expect((await app.store.getRunner(idle))?.status).toBe('released');
    expect((await app.store.getRunner(other))?.status).toBe('running');
    const tasks = await liveTasks(infra.cluster);
    expect(tasks.map((task) => task.tags?.find((tag) => tag.key === 'fleetbot:runner')?.value)).toEqual([other]);
    expect(await readParameter(env.moto, `/fleetbot/runners/sweep${clusterCount}/${idle}`)).toBeUndefined();
  });

  it('keeps an idle runner while its own job is still queued, and never touches a busy one', async () => {
    const { app } = await startWithFleet();
    const waitingForItsJob = await launchFor(app, ++jobId);
    const busy = await launchFor(app, ++jobId);
    env.github.setRunnerState(waitingForItsJob, { status: 'online' });
    env.github.setRunnerState(busy, { status: 'offline', busy: true });
    env.github.setJobStatus(jobId, 'completed');
    clock += 3_600_000;
    const deletesBefore = env.github.requestsTo('DELETE', RUNNER_DELETE).length;

    const summary = await app.fleetbot.reconciler.pass();

    expect(summary.idleRunnersRemoved + summary.offlineRunnersDeleted).toBe(0);
    expect(registered(waitingForItsJob)).toBeDefined();
    expect(registered(busy)).toBeDefined();
    expect(env.github.requestsTo('DELETE', RUNNER_DELETE)).toHaveLength(deletesBefore);
  });

  it('leaves a runner that took a job between the listing and the delete (422), and keeps it running', async () => {
    const { app } = await startWithFleet();
    const runner = await launchFor(app, ++jobId);
    env.github.setRunnerState(runner, { status: 'online' });
    await app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName: null }));
    env.github.failNext('DELETE', RUNNER_DELETE, 422);
    clock += 301_000;

    const summary = await app.fleetbot.reconciler.pass();

    expect(summary.idleRunnersRemoved).toBe(0);
    expect(registered(runner)).toBeDefined();
    expect((await app.store.getRunner(runner))?.status).toBe('running');
    // The cancelled job's runner goes on the next sweep.
    expect((await app.fleetbot.reconciler.pass()).idleRunnersRemoved).toBe(1);
  });

  it('counts a failed listing as an error, changes nothing, and sweeps again next time', async () => {
    const { app } = await startWithFleet();
    const finished = await launchFor(app, ++jobId);
    await app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName: finished }));
    env.github.failNext('GET', RUNNER_LIST, 502, 5);

    const failed = await app.fleetbot.reconciler.pass();
    expect(failed.errors).toBe(1);
    expect(registered(finished)).toBeDefined();

    expect((await app.fleetbot.reconciler.pass()).offlineRunnersDeleted).toBe(1);
    expect(registered(finished)).toBeUndefined();
  });

  it('never stops a runner its CI system reports busy, even one whose record says it was released', async () => {
    const { infra, app } = await startWithFleet();
    const runner = await launchFor(app, ++jobId);
    env.github.setRunnerState(runner, { status: 'online', busy: true });
    // A completion of its job that named this runner arrived, but GitHub still has it running a job.
    await app.store.completeJob('github', String(jobId), runner, clock);

    const summary = await app.fleetbot.reconciler.pass();

    expect(summary.orphansStopped).toBe(0);
    expect(await liveTasks(infra.cluster)).toHaveLength(1);
    expect(app.logs.some((line) => line.includes('its CI system reports it busy'))).toBe(true);

    env.github.setRunnerState(runner, { status: 'offline', busy: false });
    const after = await app.fleetbot.reconciler.pass();
    expect(after).toMatchObject({ orphansStopped: 1, offlineRunnersDeleted: 1 });
    expect(await liveTasks(infra.cluster)).toHaveLength(0);
  });
});
