import { randomUUID } from 'node:crypto';
import { gitlabJobId } from '../../src/ci/gitlab.js';
import { decodeDelivery } from '../../src/queue/message.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, sign, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { FakeGitLab, newGitLabSecrets, putGitLabSecrets, type GitLabSecrets } from '../helpers/gitlab.js';
import { jobHookPayload } from '../helpers/gitlab-payloads.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';
import { createDeliveryQueues, messagesOn, receiveNow, type DeliveryQueues } from '../helpers/queue-fixture.js';

describeWithMoto('fleetbot with FLEETBOT_QUEUE_URL: replicas that receive, and replicas that also consume', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let gitlab: FakeGitLab;
  let secrets: GitLabSecrets;
  let infra: RunnerInfra;
  let queues: DeliveryQueues;
  let env: Record<string, string>;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    secrets = newGitLabSecrets();
    gitlab = await FakeGitLab.start(secrets.apiToken);
    infra = await createRunnerInfra(moto);
    // Short: the first test's look at the queue leaves its messages hidden this long.
    queues = await createDeliveryQueues(moto, 'deliveries', { visibilityTimeoutSeconds: 2 });
    const parameters = await putGitLabSecrets(moto, 'queue', secrets);
    env = appEnvironment(
      moto,
      github,
      [
        { name: 'linux-small', labels: ['self-hosted', 'linux', 'small'], maxRunners: 5, compute: ecsCompute(infra) },
        {
          name: 'gl-linux',
          ci: 'gitlab',
          labels: ['linux'],
          maxRunners: 2,
          gitlab: { url: gitlab.url, ...parameters },
          compute: ecsCompute(infra),
        },
      ],
      { FLEETBOT_QUEUE_URL: queues.url, FLEETBOT_DELIVERY_RECOVERY_SECONDS: '0' },
    );
  });
  afterAll(async () => {
    for (const app of apps) await app.stop();
    await gitlab?.stop();
    await github?.close();
    await moto?.stop();
  });

  const postGitLab = (app: AppProcess, token: string) =>
    fetch(`${app.url}/api/gitlab/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-event': 'Job Hook',
        'x-gitlab-token': token,
        'x-gitlab-event-uuid': randomUUID(),
      },
      body: JSON.stringify(jobHookPayload({ buildId: 4343, projectId: 380 })),
    });

  it('a replica with FLEETBOT_WORKER=false verifies and queues (202) and handles nothing itself', async () => {
    const receiver = await startAppProcess({ ...env, FLEETBOT_WORKER: 'false' });
    apps.push(receiver);
    const payload = queuedJob({ jobId: 4001, org: 'acme', labels: ['self-hosted', 'linux', 'small'] });

    expect((await receiver.post('workflow_job', payload, sign(JSON.stringify(payload), 'not-the-secret'))).status).toBe(401);
    expect((await postGitLab(receiver, 'not-the-secret')).status).toBe(401);
    expect((await receiver.post('workflow_job', payload)).status).toBe(202);
    expect((await postGitLab(receiver, secrets.webhookSecret)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(await messagesOn(queues.sqs, queues.url)).toBe(2);
    expect(await fleetbotTasks(moto, infra.cluster)).toEqual([]);
    const queued = (await receiveNow(queues.sqs, queues.url)).map((message) => decodeDelivery(message.Body!));
    expect(queued.map((delivery) => [delivery.ci, delivery.event]).sort()).toEqual([
      ['github', 'workflow_job'],
      ['gitlab', 'Job Hook'],
    ]);
    expect(JSON.stringify(queued)).not.toContain(secrets.webhookSecret);
  });

  it('a replica that consumes (the default) launches a runner for each queued delivery, GitHub and GitLab', async () => {
    gitlab.addJob(380, 4343, 'pending', ['linux']);
    apps.push(await startAppProcess(env));

    const jobs = await eventually(
      'runners for both queued jobs',
      async () => {
        const tagged = (await fleetbotTasks(moto, infra.cluster)).map((task) => tagOf(task, 'fleetbot:job')).sort();
        return tagged.length === 2 ? tagged : undefined;
      },
      30_000,
    );

    expect(jobs).toEqual(['4001', gitlabJobId(gitlab.url, 4343)].sort());
    await eventually('an empty queue', async () => ((await messagesOn(queues.sqs, queues.url)) === 0 ? true : undefined));
    expect(await messagesOn(queues.sqs, queues.deadLetterUrl)).toBe(0);
  }, 60_000);
});
