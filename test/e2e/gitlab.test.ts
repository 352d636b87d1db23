import { randomUUID } from 'node:crypto';
import { gitlabJobId } from '../../src/ci/gitlab.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, readParameter, type RunnerInfra, tagOf } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { FakeGitLab, newGitLabSecrets, putGitLabSecrets, type GitLabSecrets } from '../helpers/gitlab.js';
import { jobHookPayload } from '../helpers/gitlab-payloads.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';

const UNHOOKED_PROJECT = 390;
const SWEEP_SECONDS = 1;

describeWithMoto('fleetbot started as a user starts it, serving a GitLab fleet', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let gitlab: FakeGitLab;
  let secrets: GitLabSecrets;
  let infra: RunnerInfra;
  let app: AppProcess;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    secrets = newGitLabSecrets();
    gitlab = await FakeGitLab.start(secrets.apiToken);
    infra = await createRunnerInfra(moto);
    const parameters = await putGitLabSecrets(moto, 'e2e', secrets);
    const env = appEnvironment(
      moto,
      github,
      [
        {
          name: 'gl-linux',
          ci: 'gitlab',
          labels: ['linux', 'docker'],
          maxRunners: 2,
          // A project whose webhook was never set up: only the sweep finds its jobs.
          gitlab: { url: gitlab.url, ...parameters, projects: [UNHOOKED_PROJECT] },
          compute: ecsCompute(infra),
        },
      ],
      { FLEETBOT_GITLAB_SWEEP_SECONDS: String(SWEEP_SECONDS) },
    );
    app = await startAppProcess(env);
  });
  afterAll(async () => {
    await app?.stop();
    await gitlab?.stop();
    await github?.close();
    await moto?.stop();
  });

  const post = (payload: unknown, token: string) =>
    fetch(`${app.url}/api/gitlab/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-event': 'Job Hook',
        'x-gitlab-token': token,
        'x-gitlab-event-uuid': randomUUID(),
      },
      body: JSON.stringify(payload),
    });

  it('launches a runner for a pending job and frees it on completion, with no secret in its output', async () => {
    gitlab.addJob(380, 4242, 'pending', ['linux']);
    expect((await post(jobHookPayload({ buildId: 4242, projectId: 380 }), 'not-the-secret')).status).toBe(401);

    const response = await post(jobHookPayload({ buildId: 4242, projectId: 380 }), secrets.webhookSecret);
    expect(response.status).toBe(200);

    const jobId = gitlabJobId(gitlab.url, 4242);
    const task = await eventually('a running task for the GitLab job', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find((candidate) => tagOf(candidate, 'fleetbot:job') === jobId),
    );
    const runnerName = tagOf(task, 'fleetbot:runner')!;
    const parameter = await eventually('the runner config in SSM', () => readParameter(moto, `/fleetbot/runners/gl-linux/${runnerName}`));
    expect(JSON.parse(parameter.Value!)).toMatchObject({ token: secrets.runnerToken, name: runnerName });

    // fleetbot confirms a completion with GitLab's jobs API before it stops anything.
    gitlab.addJob(380, 4242, 'success', ['linux']);
    const done = await post(
      jobHookPayload({ buildId: 4242, projectId: 380, status: 'success', runnerDescription: runnerName }),
      secrets.webhookSecret,
    );
    expect(done.status).toBe(200);
    await eventually('the task stopped', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find(
        (candidate) => candidate.taskArn === task.taskArn && candidate.lastStatus === 'STOPPED',
      ),
    );
    await eventually('the runner config deleted', async () =>
      (await readParameter(moto, `/fleetbot/runners/gl-linux/${runnerName}`)) === undefined ? true : undefined,
    );

    const output = app.output();
    // Probot's access log records request headers: the webhook secret's is censored.
    expect(output).toContain('"x-gitlab-token":"[redacted]"');
    for (const secret of Object.values(secrets)) expect(output).not.toContain(secret);
  });

  it('gives a job queued where no webhook reaches it exactly one runner, from the sweep', async () => {
    gitlab.addJob(UNHOOKED_PROJECT, 5151, 'pending', ['docker']);
    const jobId = gitlabJobId(gitlab.url, 5151);

    const task = await eventually('a task for the job only the sweep can find', async () =>
      (await fleetbotTasks(moto, infra.cluster)).find((candidate) => tagOf(candidate, 'fleetbot:job') === jobId),
    );
    // Several more sweeps find the job still pending at GitLab, and launch nothing more for it.
    const listings = () => gitlab.listings(UNHOOKED_PROJECT).length;
    const seen = listings();
    await eventually('three more sweeps', async () => (listings() >= seen + 3 ? true : undefined), 10_000);
    const tasks = (await fleetbotTasks(moto, infra.cluster)).filter((candidate) => tagOf(candidate, 'fleetbot:job') === jobId);
    expect(tasks.map((candidate) => candidate.taskArn)).toEqual([task.taskArn]);
    const summaries = app
      .output()
      .split('\n')
      .filter((line) => line.includes('"gitlabSweep"'));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toContain(`GitLab sweep admitted 1 pending job(s) fleetbot had not recorded: ${jobId}`);
    expect(app.output()).not.toContain(secrets.apiToken);
  });
});
