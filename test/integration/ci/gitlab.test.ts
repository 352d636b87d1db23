import { gitlabJobId } from '../../../src/ci/gitlab.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { createRunnerInfra, fleetbotTasks, readParameter, tagOf, type RunnerInfra } from '../../helpers/aws-fixture.js';
import {
  FakeGitLab,
  gitlabFleet,
  messageOf,
  newGitLabSecrets,
  putGitLabSecrets,
  startGitLabApp,
  type GitLabAppUnderTest,
  type GitLabSecrets,
} from '../../helpers/gitlab.js';
import { jobHookPayload } from '../../helpers/gitlab-payloads.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

const PROJECT = 380;

describeWithMoto('GitLab CI: Job events over HTTP launch one runner per pending job', () => {
  let moto: Moto;
  let secrets: GitLabSecrets;
  let gitlab: FakeGitLab;
  let app: GitLabAppUnderTest | undefined;
  let clusterCount = 0;

  beforeAll(async () => {
    moto = await startMoto();
    secrets = newGitLabSecrets();
    gitlab = await FakeGitLab.start(secrets.apiToken);
  });
  afterAll(async () => {
    await gitlab?.stop();
    await moto?.stop();
  });
  afterEach(async () => {
    if (app) {
      const logs = app.logs.join('\n');
      for (const secret of Object.values(secrets)) expect(logs).not.toContain(secret);
    }
    await app?.close();
    app = undefined;
  });

  /** Each test gets its own cluster and fleet, so tasks from other tests never count. */
  async function appWith(overrides: { maxRunners?: number; projects?: number[] } = {}): Promise<{ fleet: FleetSpec; infra: RunnerInfra }> {
    const infra = await createRunnerInfra(moto, `gitlab-${++clusterCount}`);
    const parameters = await putGitLabSecrets(moto, `instance-${clusterCount}`, secrets);
    const fleet = gitlabFleet(infra, { url: gitlab.url, ...parameters, projects: overrides.projects }, overrides);
    app = await startGitLabApp({ moto, fleets: [fleet], webhookSecret: secrets.webhookSecret });
    return { fleet, infra };
  }

  let nextBuild = 5000;
  /** A pending job at the fake GitLab, with the tags GitLab's API reports for it. */
  function pendingJob(tags = ['linux']): number {
    const buildId = ++nextBuild;
    gitlab.addJob(PROJECT, buildId, 'pending', tags);
    return buildId;
  }
  const jobIdOf = (buildId: number) => gitlabJobId(gitlab.url, buildId);
  const pending = (buildId: number) => jobHookPayload({ buildId, projectId: PROJECT });
  /** A Job Hook with the job's status; a finished status is what GitLab's API reports from then on, as it would. */
  const finished = (buildId: number, status: string, runnerDescription?: string) => {
    if (['success', 'failed', 'canceled', 'skipped'].includes(status)) {
      gitlab.addJob(PROJECT, buildId, status, gitlab.jobs.get(`${PROJECT}/${buildId}`)?.tags ?? ['linux']);
    }
    return jobHookPayload({ buildId, projectId: PROJECT, status, runnerDescription });
  };
  const runningTasks = async (cluster: string) => (await fleetbotTasks(moto, cluster)).filter((task) => task.lastStatus !== 'STOPPED');
  const jobRequests = (buildId: number) =>
    gitlab.requests.filter((request) => request === `GET /api/v4/projects/${PROJECT}/jobs/${buildId}`);

  it('launches a runner for a pending job with the tags read from the API, its token and name in SSM', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob(['linux', 'docker']);
    // The payload's tags are not trusted: only the API's count.
    const payload = { ...pending(buildId), tag_list: ['gpu'] };

    const response = await app!.post(payload);

    expect(response.status).toBe(200);
    expect(await messageOf(response)).toBe(`job ${jobIdOf(buildId)} claimed`);
    expect(jobRequests(buildId)).toHaveLength(1);
    const tasks = await runningTasks(infra.cluster);
    expect(tasks).toHaveLength(1);
    const runnerName = tagOf(tasks[0], 'fleetbot:runner')!;
    expect(runnerName).toMatch(new RegExp(`^gl-linux-127\\.0\\.0\\.1_\\d+-${buildId}-[0-9a-z]{6}$`));
    expect(tagOf(tasks[0], 'fleetbot:job')).toBe(jobIdOf(buildId));
    const parameter = await readParameter(moto, `/fleetbot/runners/gl-linux/${runnerName}`);
    expect(parameter?.Type).toBe('SecureString');
    expect(JSON.parse(parameter!.Value!)).toEqual({
      url: gitlab.url,
      token: secrets.runnerToken,
      name: runnerName,
      tags: ['linux', 'docker'],
    });
    expect(JSON.stringify(tasks[0])).not.toContain(secrets.runnerToken);
    expect(await app!.store.getJob('gitlab', jobIdOf(buildId))).toMatchObject({
      status: 'launched',
      labels: ['linux', 'docker'],
      origin: { instanceUrl: gitlab.url, projectId: PROJECT, buildId },
    });
  });

  it('launches once for the same delivery UUID twice, and for the same job under two UUIDs', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    const uuid = 'b5a1ee4e-0000-4000-8000-000000000001';

    const first = await app!.post(pending(buildId), { 'x-gitlab-event-uuid': uuid });
    const sameUuid = await app!.post(pending(buildId), { 'x-gitlab-event-uuid': uuid });
    const otherUuid = await app!.post(pending(buildId));

    expect([first.status, sameUuid.status, otherUuid.status]).toEqual([200, 200, 200]);
    expect(await messageOf(sameUuid)).toBe('delivery already handled');
    expect(await messageOf(otherUuid)).toBe(`job ${jobIdOf(buildId)} already recorded`);
    expect(jobRequests(buildId)).toHaveLength(1);
    expect(await runningTasks(infra.cluster)).toHaveLength(1);
  });

  it('follows a delivery by its UUID to the launch, and records when a runner took the job', async () => {
    await appWith();
    const buildId = pendingJob();
    const uuid = 'b5a1ee4e-0000-4000-8000-000000000002';

    await app!.post(pending(buildId), { 'x-gitlab-event-uuid': uuid });
    await app!.fleetbot.idle();
    const runnerName = (await app!.store.getJob('gitlab', jobIdOf(buildId)))!.runnerName!;
    const running = {
      ...finished(buildId, 'running', runnerName),
      build_started_at_iso: '2026-02-23T02:42:07Z',
      build_queued_duration: 12,
    };
    const started = await app!.post(running, { 'x-gitlab-event-uuid': 'b5a1ee4e-0000-4000-8000-000000000003' });

    expect(await messageOf(started)).toBe(`job ${jobIdOf(buildId)} started`);
    expect((await app!.store.getJob('gitlab', jobIdOf(buildId)))?.startedAt).toBe(Date.parse('2026-02-23T02:42:07Z'));
    const entries = app!.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const launch = entries.find((entry) => entry.msg === 'runner launched' && entry.jobId === jobIdOf(buildId));
    expect(launch?.deliveryId).toBe(uuid);
    expect(entries.find((entry) => entry.msg === 'job started after waiting 12.0 s')).toMatchObject({
      deliveryId: 'b5a1ee4e-0000-4000-8000-000000000003',
      jobId: jobIdOf(buildId),
      runnerName,
      waitMs: 12_000,
    });
  });

  it('refuses a missing or wrong X-Gitlab-Token with 401 and launches nothing', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();

    const missing = await app!.post(pending(buildId), { 'x-gitlab-token': undefined });
    const wrong = await app!.post(pending(buildId), { 'x-gitlab-token': `${secrets.webhookSecret}x` });
    const short = await app!.post(pending(buildId), { 'x-gitlab-token': 'h' });

    expect([missing.status, wrong.status, short.status]).toEqual([401, 401, 401]);
    expect(await messageOf(wrong)).toBe('invalid X-Gitlab-Token');
    expect(jobRequests(buildId)).toHaveLength(0);
    expect(await fleetbotTasks(moto, infra.cluster)).toHaveLength(0);
  });

  it('answers 400 with the reason for a body that is not JSON or not a Job Hook, 413 for a huge one', async () => {
    const { infra } = await appWith();

    const notJson = await app!.post(undefined, {}, '{"object_kind": "build",');
    const noBuildId = await app!.post({ ...pending(1), build_id: 'seven' });
    const huge = await app!.post(undefined, {}, `{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`);

    expect(notJson.status).toBe(400);
    expect(await messageOf(notJson)).toBe('the body is not valid JSON');
    expect(noBuildId.status).toBe(400);
    expect(await messageOf(noBuildId)).toMatch(/^malformed Job Hook payload: build_id: /);
    expect(huge.status).toBe(413);
    expect(await fleetbotTasks(moto, infra.cluster)).toHaveLength(0);
  });

  it('ignores other events and job statuses with 200', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();

    const push = await app!.post({ object_kind: 'push' }, { 'x-gitlab-event': 'Push Hook' });
    const manual = await app!.post(finished(buildId, 'manual'));

    expect(push.status).toBe(200);
    expect(await messageOf(push)).toMatch(/^event "Push Hook" ignored/);
    expect(manual.status).toBe(200);
    expect(await messageOf(manual)).toBe('build_status "manual" needs nothing');
    expect(await fleetbotTasks(moto, infra.cluster)).toHaveLength(0);
  });

  it('keeps a burst under maxRunners, and completions drain the backlog', async () => {
    const { infra } = await appWith({ maxRunners: 5 });
    const builds = Array.from({ length: 20 }, () => pendingJob());

    const statuses = await Promise.all(builds.map(async (buildId) => (await app!.post(pending(buildId))).status));

    expect(statuses).toEqual(builds.map(() => 200));
    expect(await runningTasks(infra.cluster)).toHaveLength(5);
    const counts = (await app!.store.fleetCounts()).get('gl-linux');
    expect(counts).toEqual({ active: 5, waiting: 15 });

    // Each runner runs its job and names itself in the completion; each freed slot takes the next job.
    for (let round = 0; round < 3; round++) {
      const tasks = await runningTasks(infra.cluster);
      for (const task of tasks) {
        const buildId = Number(tagOf(task, 'fleetbot:job')!.split('-').at(-1));
        gitlab.addJob(PROJECT, buildId, 'success', ['linux']);
        await app!.post(finished(buildId, 'success', tagOf(task, 'fleetbot:runner')));
      }
    }
    expect((await app!.store.fleetCounts()).get('gl-linux')).toEqual({ active: 5, waiting: 0 });
    expect((await fleetbotTasks(moto, infra.cluster)).filter((task) => task.lastStatus === 'STOPPED')).toHaveLength(15);
  });

  it('drops a job cancelled before its launch from the backlog', async () => {
    const { infra } = await appWith({ maxRunners: 1 });
    const [first, cancelled, third] = [pendingJob(), pendingJob(), pendingJob()];
    for (const buildId of [first, cancelled, third]) await app!.post(pending(buildId));
    expect((await app!.store.fleetCounts()).get('gl-linux')).toEqual({ active: 1, waiting: 2 });

    gitlab.addJob(PROJECT, cancelled, 'canceled', ['linux']);
    const cancel = await app!.post(finished(cancelled, 'canceled'));
    expect(cancel.status).toBe(200);
    expect(await app!.store.getJob('gitlab', jobIdOf(cancelled))).toMatchObject({ status: 'completed' });

    const [task] = await runningTasks(infra.cluster);
    await app!.post(finished(first, 'success', tagOf(task, 'fleetbot:runner')));

    const tasks = await runningTasks(infra.cluster);
    expect(tasks.map((running) => tagOf(running, 'fleetbot:job'))).toEqual([jobIdOf(third)]);
  });

  it('keeps the runner of a job cancelled before any runner took it: it runs the next pending job instead', async () => {
    const { infra } = await appWith({ maxRunners: 1 });
    const [cancelled, next] = [pendingJob(), pendingJob()];
    await app!.post(pending(cancelled));
    await app!.post(pending(next));
    const [task] = await runningTasks(infra.cluster);
    const runnerName = tagOf(task, 'fleetbot:runner')!;

    // GitLab names no runner: none took the job. Stopping this one could kill a job it has just taken.
    await app!.post(finished(cancelled, 'canceled'));
    expect(await app!.store.getRunner(runnerName)).toMatchObject({ status: 'running' });
    expect(await runningTasks(infra.cluster)).toHaveLength(1);

    // GitLab gave the next job to that runner, and says so when it completes.
    await app!.post(finished(next, 'success', runnerName));
    expect(await app!.store.getRunner(runnerName)).toMatchObject({ status: 'released' });
    expect(await app!.store.getJob('gitlab', jobIdOf(next))).toMatchObject({ status: 'completed' });
    // A fleet with nothing active and nothing waiting has no counts at all.
    expect((await app!.store.fleetCounts()).has('gl-linux')).toBe(false);
    expect(await runningTasks(infra.cluster)).toHaveLength(0);
  });

  it("stops nothing for a completion GitLab's API does not confirm, nor for one naming another CI system's runner", async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    await app!.post(pending(buildId));
    const [task] = await runningTasks(infra.cluster);
    const runnerName = tagOf(task, 'fleetbot:runner')!;
    // A GitHub job's runner, as the scheduler records it.
    const github = { ci: 'github' as const, jobId: '9001', labels: ['self-hosted'], origin: { installationId: 1 } };
    const githubRunner = 'linux-9001-ab12cd';
    await app!.store.admitJob(github, { name: 'linux', maxRunners: 1 }, githubRunner, Date.now());

    // The job still runs at GitLab: a Job Hook saying otherwise is not believed.
    const forged = await app!.post(jobHookPayload({ buildId, projectId: PROJECT, status: 'success', runnerDescription: runnerName }));
    expect(await messageOf(forged)).toMatch(/is pending at GitLab; completion ignored/);
    // A GitLab job really finished, but its hook names the GitHub runner.
    const other = pendingJob();
    await app!.post(finished(other, 'success', githubRunner));

    expect(await app!.store.getRunner(runnerName)).toMatchObject({ status: 'running' });
    expect(await app!.store.getRunner(githubRunner)).toMatchObject({ status: 'launching' });
    expect(await runningTasks(infra.cluster)).toHaveLength(1);
  });

  it('cleans up after completion: the task is stopped and the runner parameter deleted', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    await app!.post(pending(buildId));
    const [task] = await runningTasks(infra.cluster);
    const runnerName = tagOf(task, 'fleetbot:runner')!;
    expect(await readParameter(moto, `/fleetbot/runners/gl-linux/${runnerName}`)).toBeDefined();

    const done = await app!.post(finished(buildId, 'failed', runnerName));

    expect(done.status).toBe(200);
    expect(await runningTasks(infra.cluster)).toHaveLength(0);
    expect(await readParameter(moto, `/fleetbot/runners/gl-linux/${runnerName}`)).toBeUndefined();
    expect(await app!.store.getRunner(runnerName)).toMatchObject({ status: 'released' });
  });

  it('retries GitLab 5xx and 429 answers without losing the job', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    gitlab.failNext(502, 429, 503);

    const response = await app!.post(pending(buildId));

    expect(response.status).toBe(200);
    expect(jobRequests(buildId)).toHaveLength(4);
    expect(await runningTasks(infra.cluster)).toHaveLength(1);
  });

  it('answers 202, never a 5xx that would get the webhook disabled, when GitLab keeps failing, and launches the job once GitLab answers', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    // The delivery's four tries, then the first later read.
    gitlab.failNext(500, 500, 500, 500, 503);

    const accepted = await app!.post(pending(buildId), { 'x-gitlab-event-uuid': 'b5a1ee4e-0000-4000-8000-000000000002' });

    expect(accepted.status).toBe(202);
    expect(app!.logs.some((line) => line.includes('reading them again later') && line.includes(jobIdOf(buildId)))).toBe(true);
    await app!.fleetbot.idle();
    expect(jobRequests(buildId)).toHaveLength(6);
    expect(await app!.store.getJob('gitlab', jobIdOf(buildId))).toMatchObject({ status: 'launched' });
    expect(await runningTasks(infra.cluster)).toHaveLength(1);
  });

  it('reports a job GitLab never shows as getting no runner, and launches it when its delivery is resent', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    // Four tries on arrival, then four at each of the three later reads.
    gitlab.failNext(...Array<number>(16).fill(502));

    expect((await app!.post(pending(buildId))).status).toBe(202);
    await app!.fleetbot.idle();

    expect(await app!.store.getJob('gitlab', jobIdOf(buildId))).toBeUndefined();
    expect(app!.logs.some((line) => line.includes('never gave the pending job') && line.includes(jobIdOf(buildId)))).toBe(true);
    expect((await app!.post(pending(buildId))).status).toBe(200);
    expect(await runningTasks(infra.cluster)).toHaveLength(1);
  });

  it('gives a pending job whose Job Hook was lost exactly one runner after a sweep, in a project seen or listed', async () => {
    // Projects of their own: jobs other tests left pending in PROJECT are not this app's to find.
    const [seen, listed] = [481, 480];
    const { fleet, infra } = await appWith({ projects: [listed] });
    const job = (project: number, tags: string[]) => {
      gitlab.addJob(project, ++nextBuild, 'pending', tags);
      return nextBuild;
    };
    const delivered = job(seen, ['linux']);
    expect(await messageOf(await app!.post(jobHookPayload({ buildId: delivered, projectId: seen })))).toBe(
      `job ${jobIdOf(delivered)} claimed`,
    );
    const [lost, lostListed, notOurs] = [job(seen, ['linux']), job(listed, ['docker']), job(listed, ['windows'])];
    const sweep = app!.fleetbot.intakes.get('gitlab')!;

    expect(await sweep.pass!()).toMatchObject({ projects: 2, pending: 4, notOurs: 1, failed: 0 });
    await app!.fleetbot.idle();
    expect(await sweep.pass!()).toMatchObject({ projects: 2, pending: 4, recovered: [] });
    // The lost Job Hook, resent after all, finds the job recorded.
    const resent = await app!.post(jobHookPayload({ buildId: lost, projectId: seen }));
    expect(await messageOf(resent)).toBe(`job ${jobIdOf(lost)} already recorded`);

    const tasks = await runningTasks(infra.cluster);
    expect(tasks.map((task) => tagOf(task, 'fleetbot:job')).sort()).toEqual([delivered, lost, lostListed].map(jobIdOf).sort());
    expect(await app!.store.getJob('gitlab', jobIdOf(lostListed))).toMatchObject({
      status: 'launched',
      labels: ['docker'],
      origin: { instanceUrl: gitlab.url, projectId: listed, buildId: lostListed, apiTokenParameter: fleet.gitlab!.apiTokenParameter },
    });
    expect(await app!.store.getJob('gitlab', jobIdOf(notOurs))).toBeUndefined();
    const summaries = app!.logs.filter((line) => line.includes('"gitlabSweep"'));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toContain('GitLab sweep admitted 2 pending job(s) fleetbot had not recorded');
  });

  it('does not retry a 4xx from GitLab', async () => {
    const { infra } = await appWith();
    const buildId = pendingJob();
    gitlab.failNext(403);

    const response = await app!.post(pending(buildId));

    expect(response.status).toBe(200);
    expect(((await response.json()) as { message: string }).message).toMatch(/not launched: GitLab refused to show it/);
    await app!.fleetbot.idle();
    expect(jobRequests(buildId)).toHaveLength(1);
    expect(await fleetbotTasks(moto, infra.cluster)).toHaveLength(0);
    expect(app!.logs.some((line) => line.includes('GitLab refused to show the pending job') && line.includes(jobIdOf(buildId)))).toBe(true);
  });
});
