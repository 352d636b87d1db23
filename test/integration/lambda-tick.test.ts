import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { LambdaFunctionURLEvent, ScheduledEvent } from 'aws-lambda';
import { parseWorkflowJob } from '../../src/ci/github.js';
import { GITHUB_WEBHOOK_PATH } from '../../src/deliveries.js';
import { DynamoLease } from '../../src/store/dynamo-lease.js';
import { DynamoStore } from '../../src/store/dynamo.js';
import type { NewJob } from '../../src/store/types.js';
import { appEnvironment, sign } from '../helpers/app-process.js';
import { testPrivateKey, WEBHOOK_SECRET } from '../helpers/app-key.js';
import { clientsFor, createRunnerInfra, ecsCompute, fleetbotTasks, tagOf } from '../helpers/aws-fixture.js';
import { FakeCircleCi } from '../helpers/fake-circleci.js';
import { circleciFleet, ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { queuedJob } from '../helpers/payloads.js';
import { createDeliveryQueues } from '../helpers/queue-fixture.js';
import { freshStoreTable, motoDynamoDb } from '../helpers/store-backends.js';

const SCHEDULED: ScheduledEvent = {
  version: '0',
  id: 'tick-1',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/fleetbot-tick'],
  detail: {},
};

const LEASE_MS = 60_000;
const PREFIX = '/tick/app';

function githubJob(jobId: number): NewJob {
  const parsed = parseWorkflowJob(queuedJob({ jobId, org: 'acme', labels: ['self-hosted', 'linux', 'small'] }));
  if (parsed.kind !== 'event' || parsed.event.kind !== 'queued') throw new Error('not a queued job');
  return parsed.event.job;
}

function signedDelivery(body: string): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    rawPath: GITHUB_WEBHOOK_PATH,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'ping',
      'x-github-delivery': 'tick-ping',
      'x-hub-signature-256': sign(body),
    },
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  } as unknown as LambdaFunctionURLEvent;
}

describeWithMoto('the Lambda tick against moto: one pass of the periodic work on the DynamoDB store', () => {
  // DynamoDB's transactions are serializable; moto's only when served one request at a time.
  const env = useMotoAndGitHub({ serialMoto: true });
  const circleci = new FakeCircleCi();
  const saved = { ...process.env };
  beforeAll(() => circleci.start());
  afterAll(async () => {
    process.env = saved;
    await circleci.stop();
  });

  it("runs the CircleCI poll, skips the reconciler while a service replica holds its lease, then launches the backlog's job", async () => {
    const infra = await createRunnerInfra(env.moto, 'runners-tick');
    const queues = await createDeliveryQueues(env.moto, 'tick-deliveries');
    const dynamodb = motoDynamoDb(env.moto.url);
    const table = await freshStoreTable(dynamodb);
    const fleet = ecsFleet({ maxRunners: 2, compute: ecsCompute(infra) });
    const circleciTick = circleciFleet('cci-tick', 'acme/tick', { url: circleci.url, compute: ecsCompute(infra) });
    circleci.validTokens.add('circle-api-token');
    circleci.setUnclaimed('acme/tick', 1);
    // The App's credentials only in SSM, as the control-plane stack gives them to its functions.
    const { ssm } = clientsFor(env.moto);
    const parameters = {
      [`${PREFIX}/APP_ID`]: '1',
      [`${PREFIX}/PRIVATE_KEY`]: testPrivateKey(),
      [`${PREFIX}/WEBHOOK_SECRET`]: WEBHOOK_SECRET,
      [circleciTick.circleci!.apiTokenParameter]: 'circle-api-token',
      [circleciTick.circleci!.runnerTokenParameter]: 'circle-runner-token',
    };
    for (const [name, value] of Object.entries(parameters)) {
      await ssm.send(new PutParameterCommand({ Name: name, Type: 'SecureString', Value: value }));
    }
    const {
      PATH: _path,
      HOME: _home,
      APP_ID: _appId,
      PRIVATE_KEY: _privateKey,
      WEBHOOK_SECRET: _secret,
      FLEETBOT_DB: _db,
      ...appEnv
    } = appEnvironment(env.moto, env.github, [fleet, circleciTick], {
      FLEETBOT_STORE: `dynamodb:${table}`,
      FLEETBOT_QUEUE_URL: queues.url,
      FLEETBOT_SECRETS_SSM_PREFIX: PREFIX,
      FLEETBOT_LEASE_SECONDS: String(LEASE_MS / 1000),
      // The fake GitHub keeps no hook deliveries: the reconciler and the CircleCI poll are the periodic tasks here.
      FLEETBOT_DELIVERY_RECOVERY_SECONDS: '0',
      LOG_LEVEL: 'warn',
    });
    Object.assign(process.env, appEnv);
    const lambda = await import('../../src/lambda.js');
    /** The runner tasks in the cluster by fleet, the GitHub fleet's with their job. */
    const runnersByFleet = async () =>
      (await fleetbotTasks(env.moto, infra.cluster))
        .map((task) =>
          tagOf(task, 'fleetbot:fleet') === 'cci-tick' ? 'cci-tick' : `${tagOf(task, 'fleetbot:fleet')}:${tagOf(task, 'fleetbot:job')}`,
        )
        .sort();

    // The webhooks function reads its own secret from SSM, and only that one.
    expect(await lambda.webhooks(signedDelivery('{"zen":"tick"}'))).toMatchObject({ statusCode: 202 });
    expect(process.env.WEBHOOK_SECRET).toBe(WEBHOOK_SECRET);
    expect([process.env.APP_ID, process.env.PRIVATE_KEY]).toEqual([undefined, undefined]);

    // A job admitted while its fleet was full waits in the backlog; the fleet now has free slots.
    const store = new DynamoStore({ client: dynamodb, table, retentionMs: 86_400_000 });
    expect(await store.admitJob(githubJob(7001), { name: fleet.name, maxRunners: 0 }, 'unused', Date.now())).toMatchObject({
      kind: 'waiting',
    });
    const lease = new DynamoLease(dynamodb, table);
    const replicaToken = await lease.acquire('reconciler', 'ecs-replica', LEASE_MS, Date.now());
    expect(replicaToken).toBeDefined();

    const coldStart = performance.now();
    expect(await lambda.tick(SCHEDULED)).toEqual({ ran: ['circleci-poll'], heldElsewhere: ['reconciler'], failed: [] });
    const coldMs = performance.now() - coldStart;
    // The poll admitted CircleCI's waiting task and launched a runner for it in the background: tick waited for it.
    expect(await runnersByFleet()).toEqual(['cci-tick']);

    await lease.release('reconciler', 'ecs-replica', replicaToken!);
    const warmStart = performance.now();
    expect(await lambda.tick(SCHEDULED)).toEqual({ ran: ['reconciler', 'circleci-poll'], heldElsewhere: [], failed: [] });
    const warmMs = performance.now() - warmStart;
    // tick returned after the launch: the task runs, with the job's runner credential from the App read from SSM.
    expect(await runnersByFleet()).toEqual(['cci-tick', 'linux-small:7001']);
    // The tick gave the lease up: the replica takes it again without waiting for it to lapse.
    expect(await lease.acquire('reconciler', 'ecs-replica', LEASE_MS, Date.now())).toBeGreaterThan(replicaToken!);

    // Every task failing (here the store's table is gone) fails the invocation, naming each task.
    await dynamodb.send(new DeleteTableCommand({ TableName: table }));
    console.info(
      `tick: first invocation (reads the App's credentials from SSM, builds the app, polls, launches one runner) ` +
        `${coldMs.toFixed(0)} ms; second (reconciler pass launching the backlog's job, poll) ${warmMs.toFixed(0)} ms (moto)`,
    );
    await expect(lambda.tick(SCHEDULED)).rejects.toThrow(
      /^every periodic task failed: reconciler: Requested resource not found; circleci-poll: Requested resource not found$/,
    );
  }, 90_000);
});
