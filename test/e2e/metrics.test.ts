import { createRunnerInfra, ecsCompute } from '../helpers/aws-fixture.js';
import { WEBHOOK_SECRET } from '../helpers/app-key.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';
import { sample } from '../helpers/prometheus-text.js';

const TOKEN = 'e2e-metrics-token-42';

describeWithMoto('GET /metrics on the built app (npm start), with FLEETBOT_METRICS_TOKEN', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    const infra = await createRunnerInfra(moto);
    const fleet = { name: 'linux-small', labels: ['self-hosted', 'linux'], maxRunners: 3, compute: ecsCompute(infra) };
    // A delivery GitHub could not make while the app was down: recovered at start, and counted.
    github.recordDelivery('workflow_job', queuedJob({ jobId: 76, org: 'acme' }), { statusCode: 502 });
    app = await startAppProcess(appEnvironment(moto, github, [fleet], { FLEETBOT_METRICS_TOKEN: TOKEN }));
    github.setWebhookTarget(`${app.url}/api/github/webhooks`, WEBHOOK_SECRET);
  });
  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });

  const scrape = (authorization?: string) => fetch(`${app!.url}/metrics`, { headers: authorization ? { authorization } : {} });

  it('answers 401 without the token, and the Prometheus text with it, counting what the webhooks and delivery recovery brought', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('Bearer wrong-token')).status).toBe(401);
    const response = await app!.post('workflow_job', queuedJob({ jobId: 77, org: 'acme' }));
    expect(response.status).toBe(200);
    const text = await eventually('the launch counted', async () => {
      const scraped = await (await scrape(`Bearer ${TOKEN}`)).text();
      return sample(scraped, 'fleetbot_jobs_total', { ci: 'github', fleet: 'linux-small', outcome: 'launched' }) === 2
        ? scraped
        : undefined;
    });
    expect(sample(text, 'fleetbot_fleet_max_runners', { fleet: 'linux-small' })).toBe(3);
    expect(sample(text, 'fleetbot_runners', { fleet: 'linux-small', state: 'running' })).toBe(2);
    expect(sample(text, 'fleetbot_launch_seconds_count', { fleet: 'linux-small', compute: 'ecs' })).toBe(2);
    expect(sample(text, 'fleetbot_deliveries_recovered_total', { event: 'workflow_job' })).toBe(1);
    // The token is a secret: it is never logged.
    expect(app!.output()).not.toContain(TOKEN);
  });
});
