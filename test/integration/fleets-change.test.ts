import type { FleetSpec } from '../../src/fleets/spec.js';
import { runnerParameterName } from '../../src/secrets/ssm.js';
import { createRunnerInfra, ecsCompute, readParameter, runningJobIds } from '../helpers/aws-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

describeWithMoto('the fleets file changes under live runners and a backlog (a restart with another file)', () => {
  const env = useMotoAndGitHub();
  let clusterCount = 0;

  async function fleetOf(name: string, labels: string[], maxRunners: number): Promise<{ fleet: FleetSpec; cluster: string }> {
    const infra = await createRunnerInfra(env.moto, `fleets-change-${++clusterCount}`);
    return { fleet: ecsFleet({ name, labels, maxRunners, compute: ecsCompute(infra) }), cluster: infra.cluster };
  }

  const runningJobs = (cluster: string) => runningJobIds(env.moto, cluster);

  it("gives a removed fleet's waiting jobs to the fleet that now serves them, and drops the others as unmatched", async () => {
    const old = await fleetOf('old-linux', ['self-hosted', 'linux', 'gpu'], 1);
    const replacement = await fleetOf('new-linux', ['self-hosted', 'linux'], 2);
    let app = await env.startApp({ fleets: [old.fleet] });
    await app.deliver('workflow_job', queuedJob({ jobId: 801, org: 'acme' }));
    await app.deliver('workflow_job', queuedJob({ jobId: 802, org: 'acme' }));
    await app.deliver('workflow_job', queuedJob({ jobId: 803, org: 'acme', labels: ['self-hosted', 'gpu'] }));
    // 801 runs on its runner, which is left to finish it (see below for the runners of removed fleets).
    env.github.setRunnerState((await app.store.getJob('github', '801'))!.runnerName!, { status: 'online', busy: true });
    const databaseFile = app.databaseFile;
    await app.close();

    app = await env.startApp({ fleets: [replacement.fleet], databaseFile });
    const summary = await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();

    expect(summary).toMatchObject({ backlogRematched: 1, backlogUnmatched: 1, backlogLaunched: 1 });
    expect(await app.store.getJob('github', '802')).toMatchObject({ fleet: 'new-linux', status: 'launched' });
    expect(await app.store.getJob('github', '803')).toMatchObject({ fleet: null, status: 'unmatched' });
    expect(await runningJobs(replacement.cluster)).toEqual(['802']);
    const dropped = app.logs.map((line) => JSON.parse(line)).filter((entry) => entry.jobId === '803' && entry.removedFleet === 'old-linux');
    expect(dropped).toEqual([expect.objectContaining({ level: 40, labels: ['self-hosted', 'gpu'] })]);
  });

  it('kills no running job when maxRunners is lowered: new launches wait until the fleet is under the new cap', async () => {
    const wide = await fleetOf('linux', ['self-hosted', 'linux'], 3);
    let app = await env.startApp({ fleets: [wide.fleet] });
    for (const jobId of [811, 812, 813, 814]) await app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    expect(await runningJobs(wide.cluster)).toEqual(['811', '812', '813']);
    const databaseFile = app.databaseFile;
    await app.close();

    app = await env.startApp({ fleets: [{ ...wide.fleet, maxRunners: 1 }], databaseFile });
    expect(await app.fleetbot.reconciler.pass()).toMatchObject({ released: 0, orphansStopped: 0, backlogLaunched: 0 });
    expect(await runningJobs(wide.cluster)).toEqual(['811', '812', '813']);

    const complete = async (jobId: number) => {
      const runnerName = (await app.store.getJob('github', String(jobId)))!.runnerName;
      await app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName }));
    };
    await complete(811);
    await complete(812);
    expect(await runningJobs(wide.cluster)).toEqual(['813']);
    expect((await app.store.getJob('github', '814'))?.status).toBe('waiting');
    await complete(813);
    expect(await runningJobs(wide.cluster)).toEqual(['814']);
  });

  it("stops a removed fleet's idle runner at start, and its busy one when its job completes; a known fleet's runners stay", async () => {
    const old = await fleetOf('gpu', ['self-hosted', 'linux', 'gpu'], 3);
    const staying = await fleetOf('arm', ['self-hosted', 'linux', 'arm'], 3);
    let app = await env.startApp({ fleets: [old.fleet, staying.fleet] });
    const runnerOf = async (jobId: number) => (await app.store.getJob('github', String(jobId)))!.runnerName!;
    await app.deliver('workflow_job', queuedJob({ jobId: 821, org: 'acme', labels: ['self-hosted', 'gpu'] }));
    await app.deliver('workflow_job', queuedJob({ jobId: 822, org: 'acme', labels: ['self-hosted', 'gpu'] }));
    await app.deliver('workflow_job', queuedJob({ jobId: 823, org: 'acme', labels: ['self-hosted', 'arm'] }));
    await app.deliver('workflow_job', queuedJob({ jobId: 824, org: 'acme', labels: ['self-hosted', 'gpu'] }));
    const [idle, busy, other, finished] = [await runnerOf(821), await runnerOf(822), await runnerOf(823), await runnerOf(824)];
    // 824 finished, but its runner's registration stayed behind, offline.
    await app.deliver('workflow_job', completedJob({ jobId: 824, org: 'acme', runnerName: finished }));
    // Someone else's runner, named as fleetbot names its own: not in the store, so not ours.
    env.github.registerRunner('orgs/acme', 'gpu-box-abc123');
    env.github.setRunnerState(idle, { status: 'online' });
    env.github.setRunnerState(busy, { status: 'online', busy: true });
    env.github.setRunnerState(other, { status: 'online' });
    expect(await runningJobs(old.cluster)).toEqual(['821', '822']);
    expect(await readParameter(env.moto, runnerParameterName(old.fleet.name, idle))).toBeDefined();
    const databaseFile = app.databaseFile;
    await app.close();

    app = await env.startApp({ fleets: [staying.fleet], databaseFile });
    const summary = await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();

    expect(summary).toMatchObject({ removedFleetRunnersStopped: 1, offlineRunnersDeleted: 1, errors: 0 });
    const registered = env.github.registeredRunners().map((runner) => runner.name);
    expect(registered).not.toContain(idle);
    expect(registered).not.toContain(finished);
    expect(registered).toContain('gpu-box-abc123');
    expect(registered).toEqual(expect.arrayContaining([busy, other]));
    expect(await runningJobs(old.cluster)).toEqual(['822']);
    expect(await runningJobs(staying.cluster)).toEqual(['823']);
    expect(await app.store.getRunner(idle)).toMatchObject({ status: 'released', releasedReason: 'its fleet is no longer configured' });
    expect(await readParameter(env.moto, runnerParameterName(old.fleet.name, idle))).toBeUndefined();
    // Its job never started: it waits again, and as no fleet serves gpu any more, it is dropped as unmatched.
    expect(await app.store.getJob('github', '821')).toMatchObject({ status: 'unmatched' });
    const stoppedLine = app.logs.map((line) => JSON.parse(line)).filter((entry) => entry.runnerName === idle && entry.reason);
    expect(stoppedLine).toEqual([expect.objectContaining({ fleet: 'gpu', reason: 'idle (online) at its CI system' })]);

    expect((await app.fleetbot.reconciler.pass()).removedFleetRunnersStopped).toBe(0);
    expect(await runningJobs(old.cluster)).toEqual(['822']);

    await app.deliver('workflow_job', completedJob({ jobId: 822, org: 'acme', runnerName: busy }));
    expect(await runningJobs(old.cluster)).toEqual([]);
    expect((await app.store.getRunner(busy))?.status).toBe('released');
    expect(await runningJobs(staying.cluster)).toEqual(['823']);
    expect((await app.store.getRunner(other))?.status).toBe('running');
  });
});
