import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createAwsClients } from '../../src/aws.js';
import { DynamoStore } from '../../src/store/dynamo.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, runToExit, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

const CLI = resolve('dist/src/cli/main.js');
const TABLE = 'fleetbot-e2e';

/** The built app with FLEETBOT_STORE=dynamodb:<table>, its table made by the built `fleetbot store:init`. */
describeWithMoto('fleetbot started on a DynamoDB store', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let app: AppProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto({ serial: true });
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    env = appEnvironment(
      moto,
      github,
      [{ name: 'linux-small', labels: ['self-hosted', 'linux'], maxRunners: 1, compute: ecsCompute(infra) }],
      {
        FLEETBOT_STORE: `dynamodb:${TABLE}`,
      },
    );
  });
  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });

  it('refuses to start before the table exists, naming store:init; store:init creates it', async () => {
    const refused = await runToExit(env);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`the DynamoDB table "${TABLE}" does not exist: create it (npm run store:init -- dynamodb:${TABLE}`);
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
    const init = spawnSync(process.execPath, [CLI, 'store:init', `dynamodb:${TABLE}`], {
      env: { ...process.env, ...moto.env },
      encoding: 'utf8',
    });
    expect([init.status, init.stdout.trim()]).toEqual([0, `created table ${TABLE}`]);
  });

  it('refuses a FLEETBOT_STORE it cannot read', async () => {
    const refused = await runToExit({ ...env, FLEETBOT_STORE: 'dynamodb:x' });
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('FLEETBOT_STORE: dynamodb: needs a table name of 3 to 255');
  });

  it('keeps jobs and runners in the table: a job launched, the next one waits, and goes when the first completes', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fleetbot-dynamo-'));
    app = await startAppProcess(env, { cwd });
    const settings = { endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    const store = new DynamoStore({ client: createAwsClients(settings).dynamodb, table: TABLE, retentionMs: 86_400_000 });

    expect((await app.post('workflow_job', queuedJob({ jobId: 71, org: 'acme' }))).status).toBe(200);
    expect((await app.post('workflow_job', queuedJob({ jobId: 72, org: 'acme' }))).status).toBe(200);
    const first = await eventually('job 71 launched', async () => {
      const job = await store.getJob('github', '71');
      return job?.status === 'launched' ? job : undefined;
    });
    expect((await store.getJob('github', '72'))?.status).toBe('waiting');
    expect((await store.fleetCounts()).get('linux-small')).toEqual({ active: 1, waiting: 1 });

    await app.post('workflow_job', completedJob({ jobId: 71, org: 'acme', runnerName: first.runnerName }));
    await eventually('job 72 launched', async () => ((await store.getJob('github', '72'))?.status === 'launched' ? true : undefined));
    const running = (await fleetbotTasks(moto, infra.cluster)).filter((task) => task.desiredStatus === 'RUNNING');
    expect(running.map((task) => tagOf(task, 'fleetbot:job'))).toEqual(['72']);
    // Everything is in the table: the replica keeps no SQLite file of its own.
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  }, 60_000);
});
