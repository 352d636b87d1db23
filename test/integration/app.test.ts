import { StopTaskCommand } from '@aws-sdk/client-ecs';
import type { FleetSpec } from '../../src/fleets/spec.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, readParameter, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { completedJob, queuedJob, startedJob } from '../helpers/payloads.js';

const JIT_ORG = /^\/orgs\/acme\/actions\/runners\/generate-jitconfig$/;
const JIT_ANY = /\/actions\/runners\/generate-jitconfig$/;
const JOB_STATUS = /^\/repos\/[^/]+\/[^/]+\/actions\/jobs\/\d+$/;

describeWithMoto('the app: one ephemeral runner per queued job, on ECS Fargate', () => {
  const env = useMotoAndGitHub();
  let clusterCount = 0;

  /** Each test gets its own cluster, so tasks from other tests never count. */
  async function fleetWith(overrides: Parameters<typeof ecsFleet>[0] = {}): Promise<{ fleet: FleetSpec; infra: RunnerInfra }> {
    const infra = await createRunnerInfra(env.moto, `runners-${++clusterCount}`);
    const fleet = ecsFleet({
      name: 'linux-small',
      ...overrides,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
        ...overrides.compute,
      },
    });
    return { fleet, infra };
  }

  const runningTasks = async (cluster: string) => (await fleetbotTasks(env.moto, cluster)).filter((task) => task.lastStatus !== 'STOPPED');
  const jobTags = async (cluster: string) => (await runningTasks(cluster)).map((task) => tagOf(task, 'fleetbot:job'));

  it('registers a JIT runner at the organisation, keeps its config in SSM and starts one tagged task', async () => {
    const { fleet, infra } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    const before = env.github.requestsTo('POST', JIT_ORG).length;

    await app.deliver('workflow_job', queuedJob({ jobId: 101, org: 'acme', labels: ['self-hosted', 'linux'] }));

    const jitRequests = env.github.requestsTo('POST', JIT_ORG).slice(before);
    expect(jitRequests).toHaveLength(1);
    const body = jitRequests[0].body as { name: string; runner_group_id: number; labels: string[] };
    expect(body.name).toMatch(/^linux-small-101-[0-9a-z]{6}$/);
    expect(body.runner_group_id).toBe(1);
    expect(body.labels).toEqual(['self-hosted', 'linux', 'small']);

    const parameter = await readParameter(env.moto, `/fleetbot/runners/linux-small/${body.name}`);
    expect(parameter?.Type).toBe('SecureString');
    expect(parameter?.Value).toBe(env.github.issuedJitConfigs.at(-1));

    const tasks = await fleetbotTasks(env.moto, infra.cluster);
    expect(tasks).toHaveLength(1);
    const [task] = tasks;
    expect(task.startedBy).toBe('fleetbot');
    expect(tagOf(task, 'fleetbot:fleet')).toBe('linux-small');
    expect(tagOf(task, 'fleetbot:job')).toBe('101');
    expect(tagOf(task, 'fleetbot:runner')).toBe(body.name);
    expect(task.overrides?.containerOverrides).toEqual([
      { name: 'runner', environment: [{ name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: `/fleetbot/runners/linux-small/${body.name}` }] },
    ]);
    expect(JSON.stringify(task)).not.toContain(parameter!.Value!);
    expect(await app.store.getRunner(body.name)).toMatchObject({ status: 'running', credentialIssued: true, computeId: task.taskArn });
  });

  it('registers repository-level runners for user-owned repositories', async () => {
    const { fleet } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    const payload = queuedJob({ jobId: 102 });
    const before = env.github.requestsTo('POST', JIT_ANY).length;
    await app.deliver('workflow_job', payload);
    const [request] = env.github.requestsTo('POST', JIT_ANY).slice(before);
    expect(request.path).toBe(`/repos/${payload.repository.owner.login}/${payload.repository.name}/actions/runners/generate-jitconfig`);
  });

  it('launches a job once, whatever GitHub redelivers, also after a restart', async () => {
    const { fleet, infra } = await fleetWith();
    let app = await env.startApp({ fleets: [fleet] });
    const payload = queuedJob({ jobId: 103, org: 'acme' });
    await app.deliver('workflow_job', payload);
    await app.deliver('workflow_job', payload);
    const databaseFile = app.databaseFile;
    await app.close();

    app = await env.startApp({ fleets: [fleet], databaseFile });
    await app.deliver('workflow_job', payload);
    await Promise.all([app.deliver('workflow_job', payload), app.deliver('workflow_job', payload)]);
    expect(await jobTags(infra.cluster)).toEqual(['103']);
  });

  it('never runs more than maxRunners under a burst, and launches the backlog in arrival order as jobs complete', async () => {
    const { fleet, infra } = await fleetWith({ maxRunners: 3 });
    const app = await env.startApp({ fleets: [fleet] });
    const ids = Array.from({ length: 12 }, (_, index) => 200 + index);
    await Promise.all(ids.map((jobId) => app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }))));

    expect((await jobTags(infra.cluster)).sort()).toEqual(['200', '201', '202']);
    expect((await app.store.fleetCounts()).get('linux-small')).toEqual({ active: 3, waiting: 9 });

    const statusChecksBefore = env.github.requestsTo('GET', JOB_STATUS).length;
    const launchedOrder: string[] = [];
    for (const jobId of ids) {
      const job = await app.store.getJob('github', String(jobId));
      expect(job?.status).toBe('launched');
      launchedOrder.push(job!.jobId);
      await app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName: job!.runnerName }));
      expect((await runningTasks(infra.cluster)).length).toBeLessThanOrEqual(3);
    }
    expect(launchedOrder).toEqual(ids.map(String));
    // Each backlog launch asked GitHub first whether the job was still queued.
    expect(env.github.requestsTo('GET', JOB_STATUS).length - statusChecksBefore).toBe(9);
    expect(await runningTasks(infra.cluster)).toEqual([]);
    expect((await fleetbotTasks(env.moto, infra.cluster)).length).toBe(12);
  });

  it('on completion frees the runner that ran the job, stops its task and deletes its credential', async () => {
    const { fleet, infra } = await fleetWith({ maxRunners: 2 });
    const app = await env.startApp({ fleets: [fleet] });
    await app.deliver('workflow_job', queuedJob({ jobId: 301, org: 'acme' }));
    await app.deliver('workflow_job', queuedJob({ jobId: 302, org: 'acme' }));
    const runnerOf302 = (await app.store.getJob('github', '302'))!.runnerName!;
    const runnerOf301 = (await app.store.getJob('github', '301'))!.runnerName!;

    // Runners are interchangeable: job 301 ran on the runner launched for 302.
    await app.deliver('workflow_job', completedJob({ jobId: 301, org: 'acme', runnerName: runnerOf302 }));

    expect((await app.store.getRunner(runnerOf302))?.status).toBe('released');
    expect((await app.store.getRunner(runnerOf301))?.status).toBe('running');
    const stopped = (await fleetbotTasks(env.moto, infra.cluster)).find((task) => tagOf(task, 'fleetbot:runner') === runnerOf302);
    expect(stopped?.desiredStatus).toBe('STOPPED');
    expect(await readParameter(env.moto, `/fleetbot/runners/linux-small/${runnerOf302}`)).toBeUndefined();
    expect(await readParameter(env.moto, `/fleetbot/runners/linux-small/${runnerOf301}`)).toBeDefined();
  });

  it('drops a cancelled job from the backlog, and skips a backlog job GitHub no longer has queued', async () => {
    const { fleet, infra } = await fleetWith({ maxRunners: 1 });
    const app = await env.startApp({ fleets: [fleet] });
    for (const jobId of [401, 402, 403, 404]) await app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    await app.deliver('workflow_job', completedJob({ jobId: 402, org: 'acme', runnerName: null }));
    env.github.setJobStatus(403, 'completed');

    const runner = (await app.store.getJob('github', '401'))!.runnerName!;
    await app.deliver('workflow_job', completedJob({ jobId: 401, org: 'acme', runnerName: runner }));

    expect(await jobTags(infra.cluster)).toEqual(['404']);
    expect((await app.store.getJob('github', '402'))?.status).toBe('completed');
    expect((await app.store.getJob('github', '403'))?.status).toBe('abandoned');
  });

  it('serves the jobs behind a backlog job GitHub cannot answer for, launches that job first once it can, and warns once', async () => {
    const { fleet } = await fleetWith({ maxRunners: 2 });
    let clock = Date.now();
    const app = await env.startApp({ fleets: [fleet], launchTimeoutMs: 1_000, tuning: { now: () => clock } });
    const deliverQueued = (jobId: number) => app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    const complete = async (jobId: number) => {
      const runnerName = (await app.store.getJob('github', String(jobId)))!.runnerName;
      await app.deliver('workflow_job', completedJob({ jobId, org: 'acme', runnerName }));
    };
    const statusOf = async (jobId: number) => (await app.store.getJob('github', String(jobId)))?.status;
    const jitBefore = env.github.requestsTo('POST', JIT_ORG).length;
    const CHECK_803 = /^\/repos\/[^/]+\/[^/]+\/actions\/jobs\/803$/;
    for (const jobId of [801, 802, 803]) await deliverQueued(jobId);
    // GitHub answers 502 for job 803 for three checks (each tried three times).
    env.github.failNext('GET', CHECK_803, 502, 9);

    await complete(801);
    expect(await statusOf(803)).toBe('waiting');
    await deliverQueued(804);
    expect(await statusOf(804)).toBe('launched');
    await deliverQueued(805);
    expect(await statusOf(805)).toBe('waiting');

    clock += 600;
    await complete(802);
    expect(await statusOf(803)).toBe('waiting');
    expect(await statusOf(805)).toBe('launched');

    clock += 900;
    await complete(804);
    expect(await statusOf(803)).toBe('waiting');
    await deliverQueued(806);
    expect(await statusOf(806)).toBe('launched');
    await deliverQueued(807);
    expect(await statusOf(807)).toBe('waiting');

    // GitHub answers again: 803 goes before 807, which arrived after it.
    clock += 1_500;
    await complete(805);
    expect(await statusOf(803)).toBe('launched');
    expect(await statusOf(807)).toBe('waiting');
    await complete(803);
    expect(await statusOf(807)).toBe('launched');

    const launchedOrder = env.github
      .requestsTo('POST', JIT_ORG)
      .slice(jitBefore)
      .map((request) => (request.body as { name: string }).name.split('-')[2]);
    expect(launchedOrder).toEqual(['801', '802', '804', '805', '806', '803', '807']);
    expect(env.github.requestsTo('GET', CHECK_803)).toHaveLength(10);
    const warnings = app.logs.map((line) => JSON.parse(line)).filter((entry) => entry.jobId === '803' && entry.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ fleet: 'linux-small', uncheckedForMs: 1_500, err: { status: 502 } });
    expect(warnings[0].msg).toMatch(/^could not check the job for 2s; it keeps its place in the backlog/);
  });

  it('follows one delivery by its id from receipt to RunTask, and records when a runner took the job and how long it waited', async () => {
    const { fleet } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    const entries = () => app.logs.map((line) => JSON.parse(line) as Record<string, any>);

    await app.deliver('workflow_job', queuedJob({ jobId: 111, org: 'acme' }));

    const receipt = entries().find((entry) => entry.msg === 'workflow_job queued received' && entry.jobId === '111');
    const launch = entries().find((entry) => entry.msg === 'runner launched' && entry.jobId === '111');
    expect(receipt?.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
    expect(launch?.deliveryId).toBe(receipt?.deliveryId);

    const runnerName = (await app.store.getJob('github', '111'))!.runnerName!;
    const times = { createdAt: '2026-12-05T00:00:00Z', startedAt: '2026-12-05T00:00:30Z' };
    await app.deliver('workflow_job', startedJob({ jobId: 111, org: 'acme', runnerName, ...times }));

    expect((await app.store.getJob('github', '111'))?.startedAt).toBe(Date.parse(times.startedAt));
    const started = entries().filter((entry) => entry.msg === 'job started after waiting 30.0 s');
    expect(started).toEqual([expect.objectContaining({ level: 30, jobId: '111', fleet: 'linux-small', runnerName, waitMs: 30_000 })]);
    const startReceipt = entries().find((entry) => entry.msg === 'workflow_job started received' && entry.jobId === '111');
    expect(started[0].deliveryId).toBe(startReceipt?.deliveryId);
    expect(started[0].deliveryId).not.toBe(receipt?.deliveryId);
  });

  it('launches nothing for labels no fleet serves, and says why in one log line', async () => {
    const { fleet, infra } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    const before = env.github.requests.length;
    await app.deliver('workflow_job', queuedJob({ jobId: 501, org: 'acme', labels: ['self-hosted', 'windows'] }));
    expect(await fleetbotTasks(env.moto, infra.cluster)).toEqual([]);
    expect(env.github.requests.length).toBe(before);
    expect(app.logs.filter((line) => line.includes('no fleet serves labels [self-hosted, windows]'))).toHaveLength(1);
    expect((await app.store.getJob('github', '501'))?.status).toBe('unmatched');
  });

  it('logs and ignores malformed payloads without crashing', async () => {
    const { fleet, infra } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    const payload = queuedJob({ jobId: 502, org: 'acme' });
    payload.workflow_job.labels = null;
    await expect(app.deliver('workflow_job', payload)).resolves.toBeUndefined();
    await expect(app.deliver('workflow_job', { action: 'queued' })).resolves.toBeUndefined();
    expect(app.logs.filter((line) => line.includes('malformed workflow_job payload'))).toHaveLength(2);
    expect(await fleetbotTasks(env.moto, infra.cluster)).toEqual([]);
  });

  it('retries GitHub 5xx answers when creating the JIT config', async () => {
    const { fleet } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    env.github.failNext('POST', JIT_ORG, 502, 2);
    const before = env.github.requestsTo('POST', JIT_ORG).length;
    await app.deliver('workflow_job', queuedJob({ jobId: 601, org: 'acme' }));
    expect(env.github.requestsTo('POST', JIT_ORG).length - before).toBe(3);
    const runner = (await app.store.getJob('github', '601'))!.runnerName!;
    expect((await readParameter(env.moto, `/fleetbot/runners/linux-small/${runner}`))?.Value).toBe(env.github.issuedJitConfigs.at(-1));
  });

  it('when GitHub keeps failing, stops the task, puts the job back in the backlog and logs it', async () => {
    const { fleet, infra } = await fleetWith();
    const app = await env.startApp({ fleets: [fleet] });
    env.github.failNext('POST', JIT_ORG, 503, 3);
    await app.deliver('workflow_job', queuedJob({ jobId: 602, org: 'acme' }));

    expect((await app.store.getJob('github', '602'))?.status).toBe('waiting');
    expect(await runningTasks(infra.cluster)).toEqual([]);
    const failure = app.logs.map((line) => JSON.parse(line)).find((entry) => /no credential for the runner/.test(entry.msg));
    expect(failure).toMatchObject({ jobId: '602', fleet: 'linux-small', err: { status: 503 } });

    // GitHub recovers; the reconciler's drain launches the job again.
    await app.fleetbot.reconciler.pass();
    await app.fleetbot.idle();
    expect(await jobTags(infra.cluster)).toEqual(['602']);
  });

  it('when the launch fails, asks GitHub for nothing, keeps the job and logs the job id and fleet', async () => {
    const { fleet } = await fleetWith({ compute: { taskDefinition: 'no-such-family', containerName: 'runner' } });
    const app = await env.startApp({ fleets: [fleet] });
    const before = env.github.requests.length;
    await app.deliver('workflow_job', queuedJob({ jobId: 701, org: 'acme' }));
    expect(env.github.requests.length).toBe(before);
    expect((await app.store.getJob('github', '701'))?.status).toBe('waiting');
    expect((await app.store.fleetCounts()).get('linux-small')).toEqual({ active: 0, waiting: 1 });
    const failure = app.logs.map((line) => JSON.parse(line)).find((entry) => /launch failed/.test(entry.msg));
    expect(failure).toMatchObject({ jobId: '701', fleet: 'linux-small', level: 50 });
  });

  it('in registration-token mode, asks GitHub once for a whole burst', async () => {
    const { fleet, infra } = await fleetWith({ credentials: 'registration-token' });
    const app = await env.startApp({ fleets: [fleet] });
    const tokenRoute = /^\/orgs\/acme\/actions\/runners\/registration-token$/;
    const before = env.github.requestsTo('POST', tokenRoute).length;
    await Promise.all([801, 802, 803, 804, 805].map((jobId) => app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }))));

    expect(env.github.requestsTo('POST', tokenRoute).length - before).toBe(1);
    const token = env.github.issuedRegistrationTokens.at(-1);
    expect((await runningTasks(infra.cluster)).length).toBe(5);
    for (const jobId of [801, 802, 803, 804, 805]) {
      const runnerName = (await app.store.getJob('github', String(jobId)))!.runnerName!;
      const parameter = await readParameter(env.moto, `/fleetbot/runners/linux-small/${runnerName}`);
      expect(parameter?.Type).toBe('SecureString');
      expect(JSON.parse(parameter!.Value!)).toEqual({
        url: expect.stringMatching(/^https:\/\/github\.com\/\w+$/),
        token,
        name: runnerName,
        labels: ['self-hosted', 'linux', 'small'],
        runnerGroup: 'Default',
      });
    }
  });

  it('never writes a credential to the logs', async () => {
    const { fleet } = await fleetWith({ maxRunners: 2 });
    const app = await env.startApp({ fleets: [fleet] });
    for (const jobId of [901, 902, 903]) await app.deliver('workflow_job', queuedJob({ jobId, org: 'acme' }));
    env.github.failNext('POST', JIT_ORG, 500, 1);
    const runner = (await app.store.getJob('github', '901'))!.runnerName!;
    await app.deliver('workflow_job', completedJob({ jobId: 901, org: 'acme', runnerName: runner }));
    const secrets = [...env.github.issuedJitConfigs, ...env.github.installationTokens];
    expect(secrets.length).toBeGreaterThan(3);
    const logText = app.logs.join('\n');
    for (const secret of secrets) expect(logText).not.toContain(secret);
  });

  describe('the reconciler', () => {
    it('frees the slot of a runner whose task stopped and launches its job again if it is still queued', async () => {
      const { fleet, infra } = await fleetWith({ maxRunners: 1 });
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 1001, org: 'acme' }));
      await app.deliver('workflow_job', queuedJob({ jobId: 1002, org: 'acme' }));
      const lost = (await app.store.getJob('github', '1001'))!.runnerName!;
      const [task] = await runningTasks(infra.cluster);
      await clientsFor(env.moto).ecs.send(new StopTaskCommand({ cluster: infra.cluster, task: task.taskArn, reason: 'spot interruption' }));

      const summary = await app.fleetbot.reconciler.pass();
      await app.fleetbot.idle();

      expect(summary.released).toBe(1);
      expect((await app.store.getRunner(lost))?.status).toBe('released');
      expect(await readParameter(env.moto, `/fleetbot/runners/linux-small/${lost}`)).toBeUndefined();
      // Job 1001 went back to its place at the head of the backlog, ahead of 1002.
      expect(await jobTags(infra.cluster)).toEqual(['1001']);
      expect((await app.store.getJob('github', '1002'))?.status).toBe('waiting');
    });

    it('launches a runner stuck launching after a crash, and adopts one whose task had started', async () => {
      const { fleet, infra } = await fleetWith();
      const app = await env.startApp({ fleets: [fleet], launchTimeoutMs: 0 });
      // A crash right after the claim: the runner is `launching` and nothing runs.
      await app.store.admitJob(
        { ci: 'github', jobId: '1101', labels: ['self-hosted'], origin: queuedOrigin() },
        { name: fleet.name, maxRunners: fleet.maxRunners },
        'linux-small-1101-aaaaaa',
        Date.now(),
      );
      // A crash right after RunTask: the task runs but the store never heard of it.
      await app.store.admitJob(
        { ci: 'github', jobId: '1102', labels: ['self-hosted'], origin: queuedOrigin() },
        { name: fleet.name, maxRunners: fleet.maxRunners },
        'linux-small-1102-bbbbbb',
        Date.now(),
      );
      const { EcsBackend } = await import('../../src/compute/ecs.js');
      const orphan = await new EcsBackend(clientsFor(env.moto).ecs).launch(fleet, {
        runnerName: 'linux-small-1102-bbbbbb',
        jobId: '1102',
        credentialParameter: '/fleetbot/runners/linux-small/linux-small-1102-bbbbbb',
      });

      const summary = await app.fleetbot.reconciler.pass();
      await app.fleetbot.idle();

      expect(summary).toMatchObject({ relaunched: 1, adopted: 1 });
      expect((await jobTags(infra.cluster)).sort()).toEqual(['1101', '1102']);
      expect(await app.store.getRunner('linux-small-1102-bbbbbb')).toMatchObject({ computeId: orphan.computeId, credentialIssued: true });
      expect(await app.store.getRunner('linux-small-1101-aaaaaa')).toMatchObject({ status: 'running', credentialIssued: true });
      expect(await readParameter(env.moto, '/fleetbot/runners/linux-small/linux-small-1101-aaaaaa')).toBeDefined();
    });

    it('stops a task whose runner was already released', async () => {
      const { fleet, infra } = await fleetWith();
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 1201, org: 'acme' }));
      const runner = (await app.store.getJob('github', '1201'))!.runnerName!;
      // Completed in the store (say StopTask failed at completion), still running in the cloud.
      await app.store.completeJob('github', '1201', runner, Date.now());
      const summary = await app.fleetbot.reconciler.pass();
      expect(summary.orphansStopped).toBe(1);
      expect(await runningTasks(infra.cluster)).toEqual([]);
    });
  });
});

function queuedOrigin() {
  return {
    installationId: 4242,
    owner: 'acme',
    repo: 'app',
    org: 'acme',
    ownerUrl: 'https://github.com/acme',
    repoUrl: 'https://github.com/acme/app',
  };
}
