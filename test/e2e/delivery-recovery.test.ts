import { createRunnerInfra, ecsCompute, fleetbotTasks, type RunnerInfra, tagOf } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { WEBHOOK_SECRET } from '../helpers/app-key.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';

const RECOVERY_SECONDS = 2;

/**
 * Jobs queued while the app was down: GitHub could not deliver their webhooks and never tries again on
 * its own. Started again, the app finds the failed deliveries in the App's delivery log and has GitHub
 * redeliver them, and every job gets exactly one runner.
 */
describeWithMoto('deliveries GitHub could not make while the app was down', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
  });
  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });

  it('are redelivered after a restart, once each, and every job gets exactly one runner within two recovery periods', async () => {
    const env = {
      ...appEnvironment(moto, github, [
        { name: 'linux-small', labels: ['self-hosted', 'linux', 'small'], maxRunners: 10, compute: ecsCompute(infra) },
      ]),
      FLEETBOT_DELIVERY_RECOVERY_SECONDS: String(RECOVERY_SECONDS),
    };
    app = await startAppProcess(env);
    await eventually('the first recovery pass', async () =>
      github.requestsTo('GET', /^\/app\/hook\/deliveries$/).length > 0 ? true : undefined,
    );
    await app.stop();

    // While it is down: GitHub could not connect (0), or a proxy in front answered 502.
    const jobIds = [11, 12, 13, 14];
    const lost = jobIds.map((jobId, i) =>
      github.recordDelivery('workflow_job', queuedJob({ jobId, org: 'acme' }), { statusCode: i % 2 === 0 ? 0 : 502 }),
    );

    app = await startAppProcess(env);
    const startedAt = Date.now();
    github.setWebhookTarget(`${app.url}/api/github/webhooks`, WEBHOOK_SECRET);

    const tasksOf = async (jobId: number) =>
      (await fleetbotTasks(moto, infra.cluster)).filter((task) => tagOf(task, 'fleetbot:job') === String(jobId));
    await eventually(
      'a runner for every job queued while the app was down',
      async () => ((await Promise.all(jobIds.map(tasksOf))).every((tasks) => tasks.length > 0) ? true : undefined),
      2 * RECOVERY_SECONDS * 1000,
    );
    expect(Date.now() - startedAt).toBeLessThanOrEqual(2 * RECOVERY_SECONDS * 1000);

    // Two more periods: no pass redelivers anything again, and no job gets a second runner.
    await new Promise((resolve) => setTimeout(resolve, 2 * RECOVERY_SECONDS * 1000));
    await github.redeliveriesSettled();
    for (const jobId of jobIds) expect(await tasksOf(jobId)).toHaveLength(1);
    for (const delivery of lost) {
      const redeliveries = github.hookDeliveries().filter((made) => made.guid === delivery.guid && made.redelivery);
      expect(redeliveries.map((made) => made.status_code)).toEqual([200]);
    }
    const summaries = app
      .output()
      .split('\n')
      .filter((line) => line.includes('asked GitHub to redeliver'));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toContain('"recovered":4');
    expect(github.openApiViolations).toEqual([]);
  });
});
