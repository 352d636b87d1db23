import { RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { pino } from 'pino';
import type { CiSource, RunnerCredential } from '../../src/ci/types.js';
import { Ec2Backend } from '../../src/compute/ec2.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { routerFor } from '../helpers/compute-router.js';
import type { LaunchRequest } from '../../src/compute/types.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import type { FleetSpec } from '../../src/fleets/spec.js';
import { Reconciler, type ReconcileSummary } from '../../src/jobs/reconciler.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { RunnerSecrets, runnerParameterName } from '../../src/secrets/ssm.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, readParameter, tagOf } from '../helpers/aws-fixture.js';
import { createEc2RunnerInfra, ec2Fleet, instanceById, type Ec2RunnerInfra } from '../helpers/ec2-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { logLines } from '../helpers/log-lines.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const GRACE = 5 * MINUTE;

/** A CI source that answers at once, or holds every credential request until `release()`. */
class TestCi implements CiSource {
  readonly ci = 'github';
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  credentialLane(): string {
    return 'lane';
  }
  async isJobQueued(): Promise<boolean> {
    return true;
  }
  async createRunnerCredential(): Promise<RunnerCredential> {
    await this.gate;
    return { value: 'jit-config' };
  }
}

let setups = 0;

/**
 * A reconciler wired as the app wires it, against moto, with a clock the test moves. Each call gets
 * its own fleet names (and ECS cluster), so what other tests left behind never counts.
 */
async function reconcilerAgainst(moto: Moto, options: { ecs?: boolean; ec2Infra?: Ec2RunnerInfra } = {}) {
  const aws = clientsFor(moto);
  const ecsBackend = new EcsBackend(aws.ecs);
  const ec2Backend = new Ec2Backend(aws.ec2);
  const fleets: FleetSpec[] = [];
  let ecs: FleetSpec | undefined;
  let ec2: FleetSpec | undefined;
  const id = ++setups;
  if (options.ecs ?? true) {
    const infra = await createRunnerInfra(moto, `reconcile-${id}`);
    ecs = ecsFleet({
      name: `ecs-${id}`,
      labels: ['self-hosted', 'linux', 'small'],
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    fleets.push(ecs);
  }
  if (options.ec2Infra) {
    ec2 = ec2Fleet({
      name: `ec2-${id}`,
      labels: ['self-hosted', 'linux', 'vm'],
      compute: { launchTemplate: options.ec2Infra.launchTemplateName, subnets: options.ec2Infra.subnetIds },
    });
    fleets.push(ec2);
  }
  const store = new SqliteStore(':memory:');
  const { lines: logs, sink } = logLines();
  const log = pino({ level: 'debug' }, sink);
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const registry = new FleetRegistry(fleets);
  const compute = routerFor({ ecs: ecsBackend, ec2: ec2Backend });
  const secrets = new RunnerSecrets(aws.ssm);
  const ci = new TestCi();
  const scheduler = new Scheduler({ store, fleets: registry, compute, credentials: secrets, ci, log, now });
  const reconciler = new Reconciler({
    store,
    fleets: registry,
    compute,
    scheduler,
    credentials: secrets,
    log,
    launchTimeoutMs: 10 * MINUTE,
    runnerParameters: secrets,
    now,
  });
  const pass = async (): Promise<ReconcileSummary> => {
    const summary = await reconciler.pass();
    await scheduler.idle();
    return summary;
  };
  const queue = async (jobId: string, labels: string[]) => {
    const admission = await scheduler.jobQueued({ ci: 'github', jobId, labels, origin: { installationId: 1 } });
    if (admission.kind !== 'claimed') throw new Error(`job ${jobId} was not claimed: ${admission.kind}`);
    return admission.runner.name;
  };
  return {
    ecs: ecs!,
    ec2: ec2!,
    ecsBackend,
    ec2Backend,
    store,
    scheduler,
    reconciler,
    ci,
    clock,
    logs,
    pass,
    queue,
    close: () => store.close(),
  };
}

function requestFor(fleet: string, runnerName: string, jobId = '1'): LaunchRequest {
  return { runnerName, jobId, credentialParameter: runnerParameterName(fleet, runnerName) };
}

describeWithMoto('the reconciler against moto: orphaned tasks and instances', () => {
  let moto: Moto;
  let ec2Infra: Ec2RunnerInfra;
  let current: Awaited<ReturnType<typeof reconcilerAgainst>> | undefined;
  const setup = async (options: { ecs?: boolean; ec2?: boolean } = {}) =>
    (current = await reconcilerAgainst(moto, { ecs: options.ecs, ec2Infra: options.ec2 ? ec2Infra : undefined }));

  beforeAll(async () => {
    moto = await startMoto();
    ec2Infra = await createEc2RunnerInfra(moto);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  afterAll(() => moto?.stop());

  const ecsRunning = async (fleet: FleetSpec) =>
    (await fleetbotTasks(moto, (fleet.compute as { cluster: string }).cluster)).filter((task) => task.desiredStatus === 'RUNNING');

  it('leaves a task whose runner the store does not know alone for the grace period, then stops it', async () => {
    const { ecs, ecsBackend, clock, pass } = await setup();
    const orphan = await ecsBackend.launch(ecs, requestFor(ecs.name, `${ecs.name}-77-zzzzzz`, '77'));

    expect((await pass()).orphansStopped).toBe(0);
    clock.now += GRACE - 1;
    expect((await pass()).orphansStopped).toBe(0);
    expect((await ecsRunning(ecs)).map((task) => task.taskArn)).toEqual([orphan.computeId]);

    clock.now += 1;
    expect((await pass()).orphansStopped).toBe(1);
    expect(await ecsRunning(ecs)).toEqual([]);
    // Stopped once: the next pass finds nothing more to do.
    clock.now += GRACE;
    expect((await pass()).orphansStopped).toBe(0);
  });

  it('treats a task without a runner tag as an orphan too', async () => {
    const { ecs, clock, pass } = await setup();
    const compute = ecs.compute as { cluster: string; taskDefinition: string; subnets: string[]; securityGroups: string[] };
    await clientsFor(moto).ecs.send(
      new RunTaskCommand({
        cluster: compute.cluster,
        taskDefinition: compute.taskDefinition,
        launchType: 'FARGATE',
        startedBy: 'fleetbot',
        networkConfiguration: { awsvpcConfiguration: { subnets: compute.subnets, securityGroups: compute.securityGroups } },
        tags: [{ key: 'fleetbot:fleet', value: ecs.name }],
      }),
    );

    expect((await pass()).orphansStopped).toBe(0);
    expect(await ecsRunning(ecs)).toHaveLength(1);
    clock.now += GRACE;
    expect((await pass()).orphansStopped).toBe(1);
    expect(await ecsRunning(ecs)).toEqual([]);
  });

  it('stops the task of a released runner at once', async () => {
    const { ecs, store, scheduler, pass, queue, logs } = await setup();
    const runner = await queue('101', ['self-hosted', 'small']);
    await scheduler.idle();
    expect(await ecsRunning(ecs)).toHaveLength(1);
    // Completed in the store (StopTask failed at completion, say), still running in the cloud.
    await store.completeJob('github', '101', runner, Date.now());

    expect((await pass()).orphansStopped).toBe(1);
    const tasks = await fleetbotTasks(moto, (ecs.compute as { cluster: string }).cluster);
    expect(tasks.map((task) => [tagOf(task, 'fleetbot:runner'), task.desiredStatus, task.stoppedReason])).toEqual([
      [runner, 'STOPPED', 'fleetbot: runner already released'],
    ]);
    const summaryLine = logs
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'reconcile pass')
      .at(-1);
    expect(summaryLine).toMatchObject({ level: 30, reconcile: { orphansStopped: 1, parametersDeleted: 0 } });
  });

  it('never stops the task of a runner the scheduler is working on, even released and past the grace', async () => {
    const { ecs, store, scheduler, reconciler, ci, clock, pass, queue } = await setup();
    ci.hold();
    const runner = await queue('102', ['self-hosted', 'small']);
    // The task is started; its credential request waits.
    for (let tries = 0; (await ecsRunning(ecs)).length === 0; tries++) {
      if (tries > 100) throw new Error('the task never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(scheduler.isBusy(runner)).toBe(true);
    await store.completeJob('github', '102', runner, Date.now());

    // Passes that do not wait for the scheduler, which is held up by the credential.
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    clock.now += 10 * GRACE;
    expect((await reconciler.pass()).orphansStopped).toBe(0);
    expect(await ecsRunning(ecs)).toHaveLength(1);

    ci.release();
    await scheduler.idle();
    expect((await pass()).orphansStopped).toBe(1);
    expect(await ecsRunning(ecs)).toEqual([]);
  });

  it('forgets an orphan that went away by itself, and stops nothing', async () => {
    const { ecs, ecsBackend, clock, pass } = await setup();
    const orphan = await ecsBackend.launch(ecs, requestFor(ecs.name, `${ecs.name}-78-yyyyyy`, '78'));
    expect((await pass()).orphansStopped).toBe(0);
    await clientsFor(moto).ecs.send(
      new StopTaskCommand({ cluster: (ecs.compute as { cluster: string }).cluster, task: orphan.computeId, reason: 'runner exited' }),
    );

    clock.now += GRACE;
    expect(await pass()).toMatchObject({ orphansStopped: 0, errors: 0 });
    const [task] = await fleetbotTasks(moto, (ecs.compute as { cluster: string }).cluster);
    expect(task.stoppedReason).toBe('runner exited');
  });

  it('stops a second task started for a runner that already has its own, after the grace', async () => {
    const { ecs, ecsBackend, store, scheduler, clock, pass, queue } = await setup();
    const runner = await queue('103', ['self-hosted', 'small']);
    await scheduler.idle();
    const own = (await store.getRunner(runner))!.computeId!;
    // A launch repeated after a crash, before ListTasks showed the first task.
    const duplicate = await ecsBackend.launch(ecs, requestFor(ecs.name, runner, '103'));

    expect((await pass()).orphansStopped).toBe(0);
    clock.now += GRACE;
    expect((await pass()).orphansStopped).toBe(1);
    expect((await ecsRunning(ecs)).map((task) => task.taskArn)).toEqual([own]);
    expect(duplicate.computeId).not.toBe(own);
    expect((await store.getRunner(runner))?.status).toBe('running');
  });

  it("terminates EC2 instances: an unknown runner's after the grace, a released runner's at once", async () => {
    const { ec2, ec2Backend, store, scheduler, clock, pass, queue } = await setup({ ecs: false, ec2: true });
    const orphan = await ec2Backend.launch(ec2, requestFor(ec2.name, `${ec2.name}-79-xxxxxx`, '79'));
    const runner = await queue('104', ['self-hosted', 'vm']);
    await scheduler.idle();
    const released = (await store.getRunner(runner))!.computeId!;
    await store.releaseRunner(runner, 'job completed', { requeueJob: false }, Date.now());

    expect((await pass()).orphansStopped).toBe(1);
    expect((await instanceById(moto, released)).State?.Name).toBe('terminated');
    expect((await instanceById(moto, orphan.computeId)).State?.Name).toBe('running');

    clock.now += GRACE;
    expect((await pass()).orphansStopped).toBe(1);
    expect((await instanceById(moto, orphan.computeId)).State?.Name).toBe('terminated');
  });

  it('forgets an EC2 orphan terminated by itself', async () => {
    const { ec2, ec2Backend, clock, pass } = await setup({ ecs: false, ec2: true });
    const orphan = await ec2Backend.launch(ec2, requestFor(ec2.name, `${ec2.name}-80-wwwwww`, '80'));
    expect((await pass()).orphansStopped).toBe(0);
    // The runner finished its job and powered the instance off.
    await clientsFor(moto).ec2.send(new TerminateInstancesCommand({ InstanceIds: [orphan.computeId] }));
    clock.now += GRACE;
    expect(await pass()).toMatchObject({ orphansStopped: 0, errors: 0 });
  });
});

describeWithMoto('the reconciler against moto: old runner parameters', () => {
  // A server of its own, reset for each test: the sweep deletes every old parameter, whichever test wrote it.
  let moto: Moto;
  let current: Awaited<ReturnType<typeof reconcilerAgainst>> | undefined;
  const setup = async (options: { ecs?: boolean } = {}) => (current = await reconcilerAgainst(moto, options));

  beforeAll(async () => {
    moto = await startMoto();
  });
  beforeEach(() => moto.reset());
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  afterAll(() => moto?.stop());

  it("deletes parameters of both layouts older than a day with no active runner, keeps young ones and active runners' ones", async () => {
    const { store, clock, pass, logs } = await setup({ ecs: false });
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    // An active runner (its fleet is not served here, so only the sweep looks at it), running its job: the
    // runner of a fleet no longer configured is left to finish it. And a released one.
    for (const [jobId, runner] of [
      ['201', 'elsewhere-201-active'],
      ['202', 'elsewhere-202-released'],
    ]) {
      await store.admitJob(
        { ci: 'github', jobId, labels: ['self-hosted'], origin: {} },
        { name: 'elsewhere', maxRunners: 5 },
        runner,
        Date.now(),
      );
    }
    await store.markJobStarted('github', '201', Date.now(), Date.now());
    await store.releaseRunner('elsewhere-202-released', 'job completed', { requeueJob: false }, Date.now());
    for (const runner of ['elsewhere-201-active', 'elsewhere-202-released', 'elsewhere-203-unknown']) {
      await secrets.put({ fleet: 'elsewhere', name: runner }, 'jit');
    }
    // As releases before per-fleet paths wrote them: directly under /fleetbot/runners/.
    const oldLayout = (runner: string) => `/fleetbot/runners/${runner}`;
    for (const runner of ['elsewhere-201-active', 'elsewhere-202-released']) {
      await clientsFor(moto).ssm.send(new PutParameterCommand({ Name: oldLayout(runner), Type: 'SecureString', Value: 'jit' }));
    }
    const newLayout = (runner: string) => runnerParameterName('elsewhere', runner);
    const all = [
      ...['elsewhere-201-active', 'elsewhere-202-released', 'elsewhere-203-unknown'].map(newLayout),
      ...['elsewhere-201-active', 'elsewhere-202-released'].map(oldLayout),
    ];

    // Written just now: young, whoever owns them.
    expect((await pass()).parametersDeleted).toBe(0);
    for (const name of all) expect(await readParameter(moto, name)).toBeDefined();

    // A day and an hour later (moto cannot backdate LastModifiedDate; the clock moves instead).
    clock.now += 25 * HOUR;
    const summary = await pass();
    expect(summary.parametersDeleted).toBe(3);
    expect(await readParameter(moto, newLayout('elsewhere-201-active'))).toBeDefined();
    expect(await readParameter(moto, oldLayout('elsewhere-201-active'))).toBeDefined();
    expect(await readParameter(moto, newLayout('elsewhere-202-released'))).toBeUndefined();
    expect(await readParameter(moto, oldLayout('elsewhere-202-released'))).toBeUndefined();
    expect(await readParameter(moto, newLayout('elsewhere-203-unknown'))).toBeUndefined();
    const summaryLine = logs
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'reconcile pass')
      .at(-1);
    expect(summaryLine.reconcile.parametersDeleted).toBe(summary.parametersDeleted);
  });

  it('sweeps at most once per interval', async () => {
    const { clock, pass } = await setup({ ecs: false });
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    clock.now += 25 * HOUR;
    await pass();
    await secrets.put({ fleet: 'sweep', name: 'sweep-late' }, 'jit');

    clock.now += 30 * MINUTE;
    expect((await pass()).parametersDeleted).toBe(0);
    expect(await readParameter(moto, runnerParameterName('sweep', 'sweep-late'))).toBeDefined();

    clock.now += 30 * MINUTE;
    expect((await pass()).parametersDeleted).toBe(1);
    expect(await readParameter(moto, runnerParameterName('sweep', 'sweep-late'))).toBeUndefined();
  });

  it('deletes more than a page and a batch of parameters in one sweep', async () => {
    const { clock, pass } = await setup({ ecs: false });
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const names = Array.from({ length: 23 }, (_, index) => `sweep-many-${index}`);
    for (const name of names) await secrets.put({ fleet: 'sweep', name }, 'jit');
    clock.now += 25 * HOUR;
    expect((await pass()).parametersDeleted).toBe(23);
    for (const name of names) expect(await readParameter(moto, runnerParameterName('sweep', name))).toBeUndefined();
  });
});
