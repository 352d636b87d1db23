import { StopTaskCommand } from '@aws-sdk/client-ecs';
import type { FleetSpec, FleetSpecInput } from '../../src/fleets/spec.js';
import type { AppUnderTest } from '../helpers/app-harness.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

const JIT = /\/actions\/runners\/generate-jitconfig$/;
const JOB_STATUS = /\/actions\/jobs\//;
// Tuesday 1 December 2026, in Europe/Berlin (UTC+1).
const TUESDAY_10_BERLIN = Date.parse('2026-12-01T09:00:00Z');
const TUESDAY_19_BERLIN = Date.parse('2026-12-01T18:00:00Z');
const SUNDAY_10_BERLIN = Date.parse('2026-11-29T09:00:00Z');

describeWithMoto('warm pools: idle runners kept ready, counted against maxRunners', () => {
  const env = useMotoAndGitHub({ holdEcsTasksRunning: true });
  let clusterCount = 0;
  let clock = TUESDAY_10_BERLIN;
  let jobId = 9000;

  async function startWith(overrides: Partial<FleetSpecInput>): Promise<{ fleet: FleetSpec; infra: RunnerInfra; app: AppUnderTest }> {
    const infra = await createRunnerInfra(env.moto, `warm-${++clusterCount}`);
    const fleet = ecsFleet({
      name: `warm${clusterCount}`,
      ...overrides,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const app = await env.startApp({ fleets: [fleet], tuning: { runnerSweepIntervalMs: 0, now: () => clock } });
    return { fleet, infra, app };
  }

  const liveTasks = async (cluster: string) => (await fleetbotTasks(env.moto, cluster)).filter((task) => task.lastStatus !== 'STOPPED');
  const liveRunnerNames = async (cluster: string) => (await liveTasks(cluster)).map((task) => tagOf(task, 'fleetbot:runner')).sort();

  it('fills the pool at the organisation it names, and gives an arriving job an idle warm runner instead of launching', async () => {
    clock = TUESDAY_10_BERLIN;
    const { fleet, infra, app } = await startWith({ maxRunners: 3, warmRunners: { count: 2, owner: 'acme' } });

    const filled = await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();

    expect(filled.warmLaunched).toBe(2);
    const warm = await app.store.warmRunners(fleet.name);
    expect(warm.map((runner) => runner.name)).toEqual([
      expect.stringMatching(new RegExp(`^${fleet.name}-warm-[0-9a-z]{6}$`)),
      expect.anything(),
    ]);
    expect(warm.every((runner) => runner.credentialIssued && runner.status === 'running')).toBe(true);
    expect(await liveRunnerNames(infra.cluster)).toEqual(warm.map((runner) => runner.name).sort());
    const jitBodies = env.github.requestsTo('POST', JIT).slice(-2);
    expect(jitBodies.map((request) => request.path)).toEqual([
      '/orgs/acme/actions/runners/generate-jitconfig',
      '/orgs/acme/actions/runners/generate-jitconfig',
    ]);

    await app.deliver('workflow_job', queuedJob({ jobId: ++jobId, org: 'acme', labels: ['self-hosted', 'linux'] }));

    const job = await app.store.getJob('github', String(jobId));
    expect(job).toMatchObject({ status: 'launched', runnerName: warm[0].name });
    expect((await app.store.getRunner(warm[0].name))?.warm).toBe(false);
    // The pool is topped up with the fleet's third and last slot.
    expect(await app.store.warmRunners(fleet.name)).toHaveLength(2);
    expect(await liveTasks(infra.cluster)).toHaveLength(3);
    expect((await app.store.fleetCounts()).get(fleet.name)).toEqual({ active: 3, waiting: 0 });

    // Another organisation's job cannot use acme's runners: it waits for a slot of its own.
    await app.deliver('workflow_job', queuedJob({ jobId: ++jobId, org: 'other', labels: ['self-hosted', 'linux'] }));
    expect((await app.store.getJob('github', String(jobId)))?.status).toBe('waiting');

    // The first job completes: its slot goes to the waiting job before the pool.
    await app.deliver('workflow_job', completedJob({ jobId: jobId - 1, org: 'acme', runnerName: warm[0].name }));
    expect((await app.store.getJob('github', String(jobId)))?.status).toBe('launched');
    expect(await app.store.warmRunners(fleet.name)).toHaveLength(2);
  });

  it('keeps the pool only while its schedule wants it, and lets it go when the window closes', async () => {
    clock = SUNDAY_10_BERLIN;
    const { fleet, infra, app } = await startWith({
      maxRunners: 5,
      warmRunners: { count: 2, owner: 'acme', schedule: '* 8-17 * * 1-5', timeZone: 'Europe/Berlin' },
    });

    expect((await app.fleetbot.reconciler.pass()).warmLaunched).toBe(0);
    expect(await liveTasks(infra.cluster)).toHaveLength(0);

    clock = TUESDAY_10_BERLIN;
    expect((await app.fleetbot.reconciler.pass()).warmLaunched).toBe(2);
    await app.fleetbot.idle();
    expect((await app.fleetbot.reconciler.pass()).warmLaunched).toBe(0);
    const warm = await app.store.warmRunners(fleet.name);
    for (const runner of warm) env.github.setRunnerState(runner.name, { status: 'online' });

    clock = TUESDAY_19_BERLIN;
    const closed = await app.fleetbot.reconciler.pass();

    expect(closed.idleRunnersRemoved).toBe(2);
    expect(closed.warmLaunched).toBe(0);
    expect(await liveTasks(infra.cluster)).toHaveLength(0);
    expect(env.github.registeredRunners().filter((runner) => warm.some((candidate) => candidate.name === runner.name))).toEqual([]);
    expect((await app.store.fleetCounts()).get(fleet.name)?.active ?? 0).toBe(0);
  });

  it('replaces a warm runner whose task died, without asking GitHub about its placeholder job', async () => {
    clock = TUESDAY_10_BERLIN;
    const { fleet, infra, app } = await startWith({ maxRunners: 2, warmRunners: { count: 1, owner: 'acme' } });
    await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();
    const [lost] = await app.store.warmRunners(fleet.name);
    await clientsFor(env.moto).ecs.send(
      new StopTaskCommand({ cluster: infra.cluster, task: lost.computeId!, reason: 'spot interruption' }),
    );
    const statusChecks = env.github.requestsTo('GET', JOB_STATUS).length;

    const healed = await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();

    expect(healed).toMatchObject({ released: 1, warmLaunched: 1 });
    expect(env.github.requestsTo('GET', JOB_STATUS)).toHaveLength(statusChecks);
    expect((await app.store.getJob('github', `warm:${lost.name}`))?.status).toBe('completed');
    const [replacement] = await app.store.warmRunners(fleet.name);
    expect(replacement.name).not.toBe(lost.name);
    expect(await liveRunnerNames(infra.cluster)).toEqual([replacement.name]);
  });
});
