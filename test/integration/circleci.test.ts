import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { StopTaskCommand } from '@aws-sdk/client-ecs';
import { DescribeInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { pino } from 'pino';
import { Probot } from 'probot';
import { CircleCiApi } from '../../src/ci/circleci-api.js';
import { connectCircleCi, type FleetPoll } from '../../src/ci/circleci-poller.js';
import { connectGitHub } from '../../src/ci/github-webhook.js';
import { AsgBackend } from '../../src/compute/asg.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { routerFor } from '../helpers/compute-router.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../../src/fleets/spec.js';
import { createFleetbot, type Fleetbot } from '../../src/index.js';
import { CachedSecretParameters } from '../../src/secrets/parameters.js';
import { RunnerSecrets, runnerParameterName } from '../../src/secrets/ssm.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { testPrivateKey } from '../helpers/app-harness.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, readParameter, tagOf } from '../helpers/aws-fixture.js';
import { FakeCircleCi } from '../helpers/fake-circleci.js';
import { autoScalingClientFor, createAsgRunnerInfra, createGroup, groupNamed, type AsgRunnerInfra } from '../helpers/asg-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { logLines } from '../helpers/log-lines.js';

/**
 * CircleCI fleets end to end in-process: the app wired as main.ts wires it, polling a fake CircleCI
 * runner API, with its tokens in moto's SSM and its runners as ECS tasks in moto.
 */

const API_TOKEN = 'circle-api-token-9f3c1e7a';
const RUNNER_TOKEN = 'resource-class-token-5b2d8c04';

let fleetsMade = 0;

describeWithMoto('CircleCI fleets against moto and a fake CircleCI', () => {
  let moto: Moto;
  const circleci = new FakeCircleCi();
  let asgInfra: AsgRunnerInfra;
  let app: Awaited<ReturnType<typeof startCircleCiApp>> | undefined;
  const allLogs: string[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    asgInfra = await createAsgRunnerInfra(moto);
    await circleci.start();
    circleci.validTokens.add(API_TOKEN);
  });
  afterEach(async () => {
    await app?.close();
    allLogs.push(...(app?.logs ?? []));
    app = undefined;
  });
  afterAll(async () => {
    await circleci.stop();
    await moto?.stop();
  });

  /**
   * A fleet of its own (ECS cluster or Auto Scaling group, resource class, token parameters) so that
   * tests never see each other's runners.
   */
  async function newFleet(maxRunners: number, options: { apiToken?: string; onAutoScaling?: boolean } = {}): Promise<FleetSpec> {
    const id = ++fleetsMade;
    let compute: Record<string, unknown>;
    if (options.onAutoScaling) {
      await createGroup(moto, asgInfra, `circleci-${id}-group`, { maxSize: 10 });
      compute = { type: 'asg', autoScalingGroup: `circleci-${id}-group` };
    } else {
      const infra = await createRunnerInfra(moto, `circleci-${id}`);
      compute = {
        type: 'ecs',
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      };
    }
    const fleet = fleetSpecSchema.parse({
      name: `cci-${id}`,
      ci: 'circleci',
      labels: ['self-hosted', 'linux'],
      maxRunners,
      circleci: {
        resourceClass: `acme/linux-${id}`,
        runnerTokenParameter: `/fleetbot/circleci/cci-${id}/runner-token`,
        apiTokenParameter: `/fleetbot/circleci/cci-${id}/api-token`,
        url: circleci.url,
      },
      compute,
    });
    const { ssm } = clientsFor(moto);
    for (const [name, value] of [
      [fleet.circleci!.apiTokenParameter, options.apiToken ?? API_TOKEN],
      [fleet.circleci!.runnerTokenParameter, RUNNER_TOKEN],
    ]) {
      await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
    }
    return fleet;
  }

  async function startCircleCiApp(fleets: FleetSpec[], pollIntervalMs?: number) {
    const { lines: logs, sink } = logLines();
    const aws = clientsFor(moto);
    const store = new SqliteStore(':memory:');
    const registry = new FleetRegistry(fleets);
    const secrets = new CachedSecretParameters(aws.ssm);
    const api = new CircleCiApi({ attempts: 3, baseDelayMs: 1, maxDelayMs: 5 });
    const runnerSecrets = new RunnerSecrets(aws.ssm);
    const fleetbot: Fleetbot = createFleetbot({
      store,
      fleets: registry,
      compute: routerFor({ ecs: new EcsBackend(aws.ecs), asg: new AsgBackend(autoScalingClientFor(moto), aws.ec2) }),
      credentials: runnerSecrets,
      runnerParameters: runnerSecrets,
      githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      launchTimeoutMs: 60_000,
      ciSystems: [
        connectGitHub({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
        connectCircleCi({ api, secrets, pollIntervalMs }),
      ],
    });
    const probot = new Probot({ appId: 1, privateKey: testPrivateKey(), secret: 'unused', log: pino({ level: 'debug' }, sink) });
    // No HTTP server here: its routes (GET /metrics) are not served, as in the Lambda worker.
    await probot.load(fleetbot.app, { cwd: process.cwd(), addHandler: () => undefined });
    return {
      fleetbot,
      store,
      logs,
      /** One poll, and the launches and credentials it started. */
      poll: async (): Promise<FleetPoll[]> => {
        const result = (await fleetbot.intakes.get('circleci')!.pass!()) as FleetPoll[];
        await fleetbot.idle();
        return result;
      },
      reconcile: async () => {
        const summary = await fleetbot.reconciler.pass();
        await fleetbot.idle();
        return summary;
      },
      close: async () => {
        await fleetbot.stop();
        await store.close();
      },
    };
  }

  /** The group's instances by the runner named in their fleetbot:runner tag. */
  async function instancesByRunner(group: string): Promise<Map<string, string>> {
    const ids = ((await groupNamed(moto, group)).Instances ?? []).map((instance) => instance.InstanceId!);
    const described = await clientsFor(moto).ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    const byRunner = new Map<string, string>();
    for (const instance of described.Reservations?.flatMap((reservation) => reservation.Instances ?? []) ?? []) {
      const runner = instance.Tags?.find((tag) => tag.Key === 'fleetbot:runner')?.Value;
      if (runner) byRunner.set(runner, instance.InstanceId!);
    }
    return byRunner;
  }

  const clusterOf = (fleet: FleetSpec) => (fleet.compute as { cluster: string }).cluster;
  const runningTasks = async (fleet: FleetSpec) =>
    (await fleetbotTasks(moto, clusterOf(fleet))).filter((task) => task.desiredStatus === 'RUNNING');

  it('launches one ECS task per unclaimed task, each with its own credential parameter', async () => {
    const fleet = await newFleet(5);
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(fleet.circleci!.resourceClass, 2);

    expect(await app.poll()).toEqual([{ fleet: fleet.name, unclaimed: 2, active: 0, starting: 0, launched: 2 }]);
    const tasks = await runningTasks(fleet);
    expect(tasks).toHaveLength(2);
    for (const task of tasks) {
      const runnerName = tagOf(task, 'fleetbot:runner')!;
      expect(tagOf(task, 'fleetbot:fleet')).toBe(fleet.name);
      expect(task.overrides?.containerOverrides?.[0]?.environment).toEqual([
        { name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: runnerParameterName(fleet.name, runnerName) },
      ]);
      const parameter = await readParameter(moto, runnerParameterName(fleet.name, runnerName));
      expect(parameter?.Type).toBe('SecureString');
      expect(JSON.parse(parameter!.Value!)).toEqual({
        token: RUNNER_TOKEN,
        name: runnerName,
        url: circleci.url,
        resourceClass: fleet.circleci!.resourceClass,
      });
    }
    const polls = circleci.requests.filter((request) => request.resourceClass === fleet.circleci!.resourceClass);
    expect(new Set(polls.map((request) => request.token))).toEqual(new Set([API_TOKEN]));
  });

  it('launches nothing more across consecutive polls while its runners boot, until demand grows', async () => {
    const fleet = await newFleet(5);
    const resourceClass = fleet.circleci!.resourceClass;
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(resourceClass, 2);
    await app.poll();
    for (let i = 0; i < 3; i++) expect(await app.poll()).toMatchObject([{ unclaimed: 2, starting: 2, launched: 0 }]);

    const runners = (await app.store.activeRunners()).filter((runner) => runner.fleet === fleet.name);
    circleci.agentConnects(resourceClass, runners[0].name);
    expect(await app.poll()).toMatchObject([{ unclaimed: 2, starting: 2, launched: 0 }]);
    circleci.agentClaims(resourceClass, runners[0].name);
    circleci.agentClaims(resourceClass, runners[1].name);
    expect(await app.poll()).toMatchObject([{ unclaimed: 0, starting: 0, launched: 0 }]);
    expect(await runningTasks(fleet)).toHaveLength(2);

    circleci.setUnclaimed(resourceClass, 1);
    expect(await app.poll()).toMatchObject([{ unclaimed: 1, active: 2, starting: 0, launched: 1 }]);
    expect(await runningTasks(fleet)).toHaveLength(3);
  });

  it('caps a burst of 50 unclaimed tasks at maxRunners 5', async () => {
    const fleet = await newFleet(5);
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(fleet.circleci!.resourceClass, 50);
    expect(await app.poll()).toMatchObject([{ unclaimed: 50, launched: 5 }]);
    expect(await app.poll()).toMatchObject([{ unclaimed: 50, active: 5, launched: 0 }]);
    expect(await runningTasks(fleet)).toHaveLength(5);
    const counts = await app.store.fleetCounts();
    expect(counts.get(fleet.name)).toEqual({ active: 5, waiting: 0 });
  });

  it('reports a refused API token once and launches nothing', async () => {
    const fleet = await newFleet(5, { apiToken: 'revoked-api-token-0000' });
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(fleet.circleci!.resourceClass, 3);
    for (let i = 0; i < 3; i++) expect(await app.poll()).toEqual([{ fleet: fleet.name, failed: 'API token refused (HTTP 401)' }]);
    expect(await runningTasks(fleet)).toEqual([]);
    expect(app.logs.filter((line) => line.includes('refused the API token'))).toHaveLength(1);
    expect(app.logs.join('\n')).not.toContain('revoked-api-token-0000');
  });

  it('retries CircleCI 5xx answers within the poll, so no demand is lost', async () => {
    const fleet = await newFleet(5);
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(fleet.circleci!.resourceClass, 2);
    const before = circleci.requests.length;
    circleci.failNext(503, 502);
    expect(await app.poll()).toMatchObject([{ unclaimed: 2, launched: 2 }]);
    // Two reads per poll, and two of them answered 5xx first.
    expect(circleci.requests.length - before).toBe(4);
    expect(await runningTasks(fleet)).toHaveLength(2);
  });

  it("frees a runner's capacity through the reconciler when its task stops, and deletes its parameter", async () => {
    const fleet = await newFleet(1);
    const resourceClass = fleet.circleci!.resourceClass;
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(resourceClass, 2);
    expect(await app.poll()).toMatchObject([{ launched: 1 }]);
    const [runner] = (await app.store.activeRunners()).filter((candidate) => candidate.fleet === fleet.name);
    circleci.agentClaims(resourceClass, runner.name);
    expect(await app.poll()).toMatchObject([{ unclaimed: 1, active: 1, launched: 0 }]);

    // The single-task agent finished its task and exited; its task stopped.
    await clientsFor(moto).ecs.send(
      new StopTaskCommand({ cluster: clusterOf(fleet), task: runner.computeId!, reason: 'Essential container exited' }),
    );
    expect(await app.reconcile()).toMatchObject({ released: 1, backlogLaunched: 0 });
    expect((await app.store.getRunner(runner.name))?.status).toBe('released');
    expect((await app.store.getJob('circleci', runner.jobId))?.status).toBe('abandoned');
    expect(await readParameter(moto, runnerParameterName(runner.fleet, runner.name))).toBeUndefined();

    expect(await app.poll()).toMatchObject([{ unclaimed: 1, active: 0, launched: 1 }]);
    expect(await runningTasks(fleet)).toHaveLength(1);
  });

  it('runs CircleCI runners on an Auto Scaling group: desired capacity follows demand, an instance that powers off frees its slot', async () => {
    const fleet = await newFleet(5, { onAutoScaling: true });
    const group = (fleet.compute as { autoScalingGroup: string }).autoScalingGroup;
    const resourceClass = fleet.circleci!.resourceClass;
    app = await startCircleCiApp([fleet]);
    circleci.setUnclaimed(resourceClass, 3);
    expect(await app.poll()).toMatchObject([{ unclaimed: 3, launched: 3 }]);
    expect(await app.poll()).toMatchObject([{ unclaimed: 3, active: 3, starting: 3, launched: 0 }]);
    expect((await groupNamed(moto, group)).DesiredCapacity).toBe(3);

    // The reconciler's describe hands the InService instances to the runners, tagged with their names.
    await app.reconcile();
    const runners = (await app.store.activeRunners()).filter((runner) => runner.fleet === fleet.name);
    const instanceOf = await instancesByRunner(group);
    expect([...instanceOf.keys()].sort()).toEqual(runners.map((runner) => runner.name).sort());

    // One agent ran its task and its instance powered off.
    const [done] = runners;
    circleci.agentClaims(resourceClass, done.name);
    await clientsFor(moto).ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceOf.get(done.name)!] }));
    expect(await app.reconcile()).toMatchObject({ released: 1 });
    expect((await app.store.getRunner(done.name))?.status).toBe('released');
    expect((await groupNamed(moto, group)).DesiredCapacity).toBe(2);
  });

  it('polls on its interval from start, and stop() ends polling', async () => {
    const fleet = await newFleet(5);
    const resourceClass = fleet.circleci!.resourceClass;
    app = await startCircleCiApp([fleet], 20);
    const pollsOf = () => circleci.requests.filter((request) => request.resourceClass === resourceClass).length;
    const deadline = Date.now() + 10_000;
    while (pollsOf() < 6 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(pollsOf()).toBeGreaterThanOrEqual(6);
    await app.fleetbot.stop();
    const afterStop = pollsOf();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pollsOf()).toBe(afterStop);
  });

  it('never writes a token to the logs', () => {
    const logs = allLogs.join('\n');
    expect(logs).toContain('runner launched');
    for (const secret of [API_TOKEN, RUNNER_TOKEN]) expect(logs).not.toContain(secret);
  });
});
