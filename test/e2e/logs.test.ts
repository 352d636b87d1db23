import type { FleetSpecInput } from '../../src/fleets/spec.js';
import { createRunnerInfra, registerTaskDefinitionWithoutContainerMemory, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, sign, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { duplicateKeys } from '../helpers/duplicate-keys.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, freePort, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';

type Line = Record<string, any>;

/** The app's JSON lines (other output, such as Node's warnings, is left out). */
function jsonLines(output: string): { text: string; line: Line }[] {
  return output
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => ({ text, line: JSON.parse(text) as Line }));
}

function ecsFleet(name: string, labels: string[], infra: RunnerInfra, taskDefinition = infra.taskDefinition): FleetSpecInput {
  return {
    name,
    labels,
    maxRunners: 3,
    compute: { type: 'ecs', cluster: infra.cluster, taskDefinition, subnets: [infra.subnetId], securityGroups: [infra.securityGroupId] },
  };
}

describeWithMoto('logs that explain themselves (the built app)', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    // No container-level memory: moto answers RunTask with HTTP 500 and an HTML page.
    await registerTaskDefinitionWithoutContainerMemory(moto);
  });
  afterAll(async () => {
    for (const app of apps) await app.stop();
    await github?.close();
    await moto?.stop();
  });

  describe('against moto and the fake GitHub, in JSON', () => {
    let app: AppProcess;

    beforeAll(async () => {
      const env = appEnvironment(moto, github, [
        ecsFleet('linux-small', ['self-hosted', 'linux'], infra),
        ecsFleet('broken', ['self-hosted', 'broken'], infra, 'no-container-memory'),
      ]);
      app = await startAppProcess(env);
      apps.push(app);
      // Start-up done (its first reconcile pass logged), so that what follows is each test's own output.
      await eventually('the first reconcile pass', async () => (app.output().includes('reconcile pass') ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 200));
    });

    it('lists the fleets, the CI sources and IssueOps in one line at start', () => {
      const starts = jsonLines(app.output()).filter(({ line }) => line.fleets);
      expect(starts).toHaveLength(1);
      expect(starts[0].line).toMatchObject({
        fleets: [
          { name: 'linux-small', ci: 'github', compute: 'ecs', maxRunners: 3 },
          { name: 'broken', ci: 'github', compute: 'ecs', maxRunners: 3 },
        ],
        ciSources: ['github'],
        issueOps: 'off',
      });
      expect(starts[0].line.msg).toBe(
        'fleetbot started with 2 fleets: linux-small (github, ecs, max 3), broken (github, ecs, max 3); CI sources: github; IssueOps: off',
      );
    });

    it('logs a mis-signed delivery in one short line, without its payload, and answers 401', async () => {
      const payload = queuedJob({ jobId: 1, org: 'acme' });
      const marker = 'payload-marker-7f3a';
      payload.padding = marker.repeat(2_000);
      const body = JSON.stringify(payload);
      expect(body.length).toBeGreaterThan(25_000);
      const before = app.output().length;

      const response = await app.post('workflow_job', payload, sign(body, 'not-the-secret'));
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: 'signature does not match event payload and secret' });
      await new Promise((resolve) => setTimeout(resolve, 500));

      const written = app.output().slice(before);
      expect(written).not.toContain(marker);
      expect(written).not.toContain('Codertocat');
      expect(Buffer.byteLength(written)).toBeLessThan(1_000);
      const lines = jsonLines(written);
      expect(lines).toHaveLength(1);
      const [{ line }] = lines;
      expect(line).toMatchObject({
        level: 40,
        event: 'workflow_job',
        source: '127.0.0.1',
        msg: expect.stringContaining('signature does not match'),
      });
      expect(line.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
      expect(github.requests.filter((request) => request.path.includes('generate-jitconfig'))).toEqual([]);
    });

    it('names RunTask and the HTTP status of a launch that failed on an HTML answer', async () => {
      await app.post('workflow_job', queuedJob({ jobId: 2, org: 'acme', labels: ['self-hosted', 'broken'] }));
      const { line } = await eventually('the launch failure', async () =>
        jsonLines(app.output()).find(({ line }) => line.jobId === '2' && line.msg === 'launch failed; the job is back in the backlog'),
      );
      expect(line.err).toMatchObject({ name: 'SyntaxError', operation: 'ecs:RunTask', status: 500 });
      expect(line.err.message).toMatch(/^the answer \(text\/html\) is not one the SDK can read/);
    });

    it("names generate-jitconfig, the status and GitHub's request id when GitHub fails", async () => {
      github.failNext('POST', /generate-jitconfig$/, 503, 10, { 'x-github-request-id': 'CAFE:1:2:3' });
      await app.post('workflow_job', queuedJob({ jobId: 3, org: 'acme' }));
      const { line } = await eventually('the credential failure', async () =>
        jsonLines(app.output()).find(({ line }) => line.jobId === '3' && line.err),
      );
      expect(line.err).toMatchObject({
        operation: 'POST /api/v3/orgs/acme/actions/runners/generate-jitconfig',
        status: 503,
        requestId: 'CAFE:1:2:3',
      });
    });

    it('writes no key twice in any line', () => {
      const lines = jsonLines(app.output());
      expect(lines.length).toBeGreaterThan(5);
      expect(lines.flatMap(({ text }) => duplicateKeys(text).map((key) => `${key} in ${text.slice(0, 200)}`))).toEqual([]);
    });
  });

  it('reports a GitHub that refuses connections as ECONNREFUSED, not as status 500', async () => {
    const closed = await freePort();
    const env = appEnvironment(moto, github, [ecsFleet('linux-small', ['self-hosted', 'linux'], infra)], {
      GHE_HOST: `127.0.0.1:${closed}`,
    });
    const app = await startAppProcess(env);
    apps.push(app);
    await app.post('workflow_job', queuedJob({ jobId: 4, org: 'acme' }));
    const { line } = await eventually(
      'the credential failure',
      async () => jsonLines(app.output()).find(({ line }) => line.jobId === '4' && line.err),
      20_000,
    );
    expect(line.err).toMatchObject({ code: 'ECONNREFUSED', message: `connect ECONNREFUSED 127.0.0.1:${closed}` });
    expect(line.err.operation).toMatch(/^POST \/api\/v3\/app\/installations\/4242\/access_tokens$|generate-jitconfig$/);
    expect(line.err.status).toBeUndefined();
  }, 40_000);

  it('reports an AWS endpoint whose name does not resolve as ENOTFOUND, in the pretty format with the time', async () => {
    const env = appEnvironment(moto, github, [ecsFleet('linux-small', ['self-hosted', 'linux'], infra)], {
      AWS_ENDPOINT_URL: 'http://aws-endpoint.invalid:4566',
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'info',
    });
    const app = await startAppProcess(env);
    apps.push(app);
    await app.post('workflow_job', queuedJob({ jobId: 5, org: 'acme' }));
    const failure = await eventually(
      'the launch failure',
      async () =>
        app
          .output()
          .split('\n[')
          .find((entry) => entry.includes('launch failed')),
      30_000,
    );
    // One line: the time, the level, the message, then the fields.
    expect(failure.trimEnd().split('\n')).toHaveLength(1);
    expect(failure).toMatch(
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{4}\] ERROR \(fleetbot\): launch failed; the job is back in the backlog \{/,
    );
    const fields = JSON.parse(failure.slice(failure.indexOf(' {') + 1));
    // The first call of a launch (the task definition's container name, then RunTask).
    expect(fields.err).toEqual({
      name: 'Error',
      message: 'getaddrinfo ENOTFOUND aws-endpoint.invalid',
      operation: expect.stringMatching(/^ecs:(DescribeTaskDefinition|RunTask)$/),
      code: 'ENOTFOUND',
    });
    expect(app.output()).toMatch(/^\[\d{4}-\d{2}-\d{2} [\d:.]+ [+-]\d{4}\] INFO: Running Probot/m);
  }, 60_000);
});
