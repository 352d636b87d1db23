import { createServer } from 'node:http';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { forwardTo, listenOnLoopback } from '../helpers/proxy.js';
import { queuedJob } from '../helpers/payloads.js';

const RUN_TASK_DELAY_MS = 3_000;
const SHUTDOWN_SECONDS = 15;

/** A proxy in front of moto that holds each RunTask call for RUN_TASK_DELAY_MS before passing it on. */
async function slowRunTaskProxy(motoUrl: string): Promise<{ url: string; runTasks: () => number; close: () => void }> {
  const target = new URL(motoUrl);
  let runTasks = 0;
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const isRunTask = String(incoming.headers['x-amz-target'] ?? '').endsWith('.RunTask');
      if (isRunTask) runTasks++;
      const forward = () => forwardTo(target, incoming, outgoing, Buffer.concat(chunks));
      if (isRunTask) setTimeout(forward, RUN_TASK_DELAY_MS);
      else forward();
    });
  });
  const url = await listenOnLoopback(server);
  return { url, runTasks: () => runTasks, close: () => server.close() };
}

describeWithMoto('SIGTERM with a launch in flight (the built app)', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let proxy: Awaited<ReturnType<typeof slowRunTaskProxy>>;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    proxy = await slowRunTaskProxy(moto.url);
  });
  afterAll(async () => {
    await app?.kill();
    proxy?.close();
    await github?.close();
    await moto?.stop();
  });

  it('finishes the launch, still answers webhooks meanwhile, and exits 0 within FLEETBOT_SHUTDOWN_SECONDS', async () => {
    const fleet = { name: 'linux', labels: ['self-hosted', 'linux'], maxRunners: 5, compute: ecsCompute(infra) };
    app = await startAppProcess(
      appEnvironment(moto, github, [fleet], { AWS_ENDPOINT_URL: proxy.url, FLEETBOT_SHUTDOWN_SECONDS: String(SHUTDOWN_SECONDS) }),
    );
    expect((await app.post('workflow_job', queuedJob({ jobId: 71, org: 'acme', labels: ['self-hosted', 'linux'] }))).status).toBe(200);
    await eventually('the RunTask call under way', async () => (proxy.runTasks() > 0 ? true : undefined));

    const signalled = Date.now();
    const stopping = app.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const duringDrain = await app.post('workflow_job', queuedJob({ jobId: 72, org: 'acme', labels: ['self-hosted', 'linux'] }));
    await stopping;

    expect(duringDrain.status).toBe(200);
    expect(app.exitCode()).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(SHUTDOWN_SECONDS * 1000);
    const tasks = await fleetbotTasks(moto, infra.cluster);
    expect(tasks.map((task) => tagOf(task, 'fleetbot:job'))).toContain('71');
  }, 60_000);
});
