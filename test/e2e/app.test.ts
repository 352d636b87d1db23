import { StopTaskCommand } from '@aws-sdk/client-ecs';
import {
  clientsFor,
  createRunnerInfra,
  ecsCompute,
  fleetbotTasks,
  readParameter,
  type RunnerInfra,
  tagOf,
} from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, runToExit, sign, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

describeWithMoto('fleetbot started as a user starts it', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let app: AppProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    env = appEnvironment(moto, github, [
      {
        name: 'linux-small',
        labels: ['self-hosted', 'linux', 'small'],
        maxRunners: 5,
        compute: ecsCompute(infra),
      },
    ]);
    app = await startAppProcess({ ...env, FLEETBOT_RECONCILE_INTERVAL_SECONDS: '1' });
  });
  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });

  it('answers 4xx to a webhook with a wrong or missing signature, and does nothing', async () => {
    const payload = queuedJob({ jobId: 1, org: 'acme' });
    // Delivery recovery reads the App's delivery log on its own timer, webhooks or not.
    const answering = () => github.requests.filter((request) => !request.path.startsWith('/app/hook/deliveries'));
    const before = answering().length;
    const forged = await app.post('workflow_job', payload, sign(JSON.stringify(payload), 'not-the-secret'));
    const unsigned = await app.post('workflow_job', payload, null);
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.status).toBeLessThan(500);
    expect(unsigned.status).toBeGreaterThanOrEqual(400);
    expect(unsigned.status).toBeLessThan(500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(answering().length).toBe(before);
    expect(await fleetbotTasks(moto, infra.cluster)).toEqual([]);
  });

  it('launches a runner for a signed queued webhook and cleans up when the job completes', async () => {
    const response = await app.post('workflow_job', queuedJob({ jobId: 2, org: 'acme' }));
    expect(response.status).toBe(200);

    const task = await eventually('a running task for job 2', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find((candidate) => tagOf(candidate, 'fleetbot:job') === '2'),
    );
    const runnerName = tagOf(task, 'fleetbot:runner')!;
    expect(runnerName).toMatch(/^linux-small-2-[0-9a-z]{6}$/);
    const parameter = await eventually('the runner credential in SSM', () =>
      readParameter(moto, `/fleetbot/runners/linux-small/${runnerName}`),
    );
    expect(parameter.Type).toBe('SecureString');
    expect(github.issuedJitConfigs).toContain(parameter.Value);
    // The app reached GitHub through GHE_HOST, as an installation.
    expect(github.requestsTo('POST', /^\/app\/installations\/4242\/access_tokens$/).length).toBeGreaterThan(0);

    const completion = await app.post('workflow_job', completedJob({ jobId: 2, org: 'acme', runnerName }));
    expect(completion.status).toBe(200);
    await eventually('the task stopped', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find(
        (candidate) => candidate.taskArn === task.taskArn && candidate.desiredStatus === 'STOPPED',
      ),
    );
    await eventually('the credential deleted', async () =>
      (await readParameter(moto, `/fleetbot/runners/linux-small/${runnerName}`)) === undefined ? true : undefined,
    );
    expect(app.output()).not.toContain(parameter.Value!);
    expect(github.openApiViolations).toEqual([]);
  });

  it('heals on its own timer: a task stopped behind its back is replaced while the job is still queued', async () => {
    await app.post('workflow_job', queuedJob({ jobId: 3, org: 'acme' }));
    const first = await eventually('a running task for job 3', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find((task) => tagOf(task, 'fleetbot:job') === '3' && task.desiredStatus === 'RUNNING'),
    );
    await clientsFor(moto).ecs.send(new StopTaskCommand({ cluster: infra.cluster, task: first.taskArn, reason: 'spot interruption' }));

    const replacement = await eventually('a replacement task for job 3', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find(
        (task) => tagOf(task, 'fleetbot:job') === '3' && task.desiredStatus === 'RUNNING' && task.taskArn !== first.taskArn,
      ),
    );
    expect(tagOf(replacement, 'fleetbot:runner')).not.toBe(tagOf(first, 'fleetbot:runner'));
    expect(app.output()).toMatch(/"reconcile":\{"released":1/);
  });

  it('refuses to start without a webhook secret', async () => {
    const { WEBHOOK_SECRET: _omitted, ...withoutSecret } = env;
    const result = await runToExit(withoutSecret);
    expect(result.code).toBe(1);
    expect(result.output).toContain('WEBHOOK_SECRET is not set');
  });

  it('refuses to start with a bad fleets file, naming the file, the fleet and the key', async () => {
    const bad = appEnvironment(moto, github, [
      {
        name: 'linux-small',
        labels: ['self-hosted'],
        maxRunners: -1,
        compute: { type: 'ecs', cluster: 'c', taskDefinition: 't', subnets: ['subnet-1'] },
      },
    ]);
    const result = await runToExit(bad);
    expect(result.code).toBe(1);
    expect(result.output).toContain(`${bad.FLEETBOT_CONFIG} is not a valid fleets file`);
    expect(result.output).toMatch(/fleets\[0\] \(linux-small\)\.maxRunners: /);
  });
});
