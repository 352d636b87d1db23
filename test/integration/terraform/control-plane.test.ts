import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { synthesizeControlPlane } from '../../../cdktf/control-plane.js';
import { controlPlaneInputSchema } from '../../../cdktf/control-plane-input.js';
import { APP_SECRET_NAMES } from '../../../src/config.js';
import { zip } from '../../../src/cli/zip.js';
import { TerraformCli } from '../../../src/terraform/cli.js';
import type { PlanResult } from '../../../src/terraform/types.js';
import { clientsFor, createRunnerNetwork } from '../../helpers/aws-fixture.js';
import { startMoto, type Moto } from '../../helpers/moto.js';
import {
  CONTROL_PLANE_SERVICES,
  describeWithTerraform,
  providerSettingsFor,
  terraformBinary,
  terraformEnvFor,
  terraformMirror,
} from '../../helpers/terraform.js';

/**
 * The control-plane stack, synthesized, planned and applied by real terraform against one moto, then
 * read back through the AWS APIs. moto answers every resource type of the stack (DynamoDB with TTL, SQS
 * with a redrive policy, Lambda with a function URL and an SQS event source, EventBridge, ECS service,
 * CloudWatch alarms), so nothing is skipped. Not destroyed: moto goes with the test, and a destroy would
 * add ~40 s to the suite.
 */

// Provider start-up ~5 s per command; apply ~100 s (each SQS queue waits ~25 s for its attributes to
// settle, one after the other; the ECS cluster 10 s; each function ~5 s).
const TIMEOUT_MS = 420_000;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:fleetbot-oncall';

/** An unsigned call to moto's REST and JSON APIs (Lambda, EventBridge, CloudWatch), whose SDK clients the app does not ship. */
async function awsApi(moto: Moto, service: string, request: { path?: string; target?: string; form?: string; body?: unknown }) {
  const headers: Record<string, string> = {
    authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
  };
  if (request.target) Object.assign(headers, { 'x-amz-target': request.target, 'content-type': 'application/x-amz-json-1.1' });
  if (request.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const hasBody = request.target !== undefined || request.form !== undefined;
  const response = await fetch(`${moto.url}${request.path ?? '/'}`, {
    method: hasBody ? 'POST' : 'GET',
    headers,
    body: request.form ?? (request.target ? JSON.stringify(request.body ?? {}) : undefined),
  });
  if (!response.ok) throw new Error(`${service} ${request.path ?? request.target}: HTTP ${response.status} ${await response.text()}`);
  return response.text();
}

/** Addresses terraform will update in place, by type, from its plan text. */
function updatedTypes(plan: PlanResult): string[] {
  return [...plan.text.matchAll(/^\s*# (\w+)\.\S+ will be updated in-place$/gm)].map((match) => match[1]).sort();
}

describeWithTerraform('the control-plane stack against moto', () => {
  let moto: Moto;
  let workdir: string;
  let cli: TerraformCli;
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, operation: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await operation();
    } finally {
      timings[step] = Date.now() - started;
    }
  };

  beforeAll(async () => {
    moto = await startMoto();
    workdir = await mkdtemp(join(tmpdir(), 'fleetbot-control-plane-'));
    cli = new TerraformCli({
      binary: terraformBinary,
      pluginMirror: terraformMirror,
      timeoutMs: TIMEOUT_MS,
      stateDir: join(workdir, 'cli'),
      env: terraformEnvFor(moto),
      secrets: [],
    });
  });

  afterAll(async () => {
    await moto?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
    console.log(`control-plane terraform timings (ms): ${JSON.stringify(timings)}`);
  });

  it(
    'plans and applies the whole deployment, which then reads back as built',
    async () => {
      const config = { endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
      const { ecs, ssm } = clientsFor(moto);
      const network = await createRunnerNetwork(moto, 'fleetbot-control-plane');
      // The operator's step before apply: the App credentials as SecureStrings, which Terraform never sees.
      for (const name of APP_SECRET_NAMES) {
        await ssm.send(new PutParameterCommand({ Name: `/fleetbot/app/${name}`, Type: 'SecureString', Value: `test-${name}` }));
      }
      const zipPath = join(workdir, 'fleetbot-lambda.zip');
      await writeFile(
        zipPath,
        zip([{ path: 'dist/src/lambda.js', data: Buffer.from('export const webhooks = async () => ({});\n'), mode: 0o644 }]),
      );

      const input = controlPlaneInputSchema.parse({
        region: 'us-east-1',
        service: { image: 'ghcr.io/acme/fleetbot:0.1.0-issueops', subnets: [network.subnetId], securityGroups: [network.securityGroupId] },
        lambdaZip: zipPath,
        alarmActions: [TOPIC],
        fleetClusters: ['fleetbot-linux-small'],
        issueOps: { stateBucket: 'acme-fleet-state' },
        terraform: { provider: providerSettingsFor(moto.url, CONTROL_PLANE_SERVICES) },
      });
      const dir = join(workdir, 'control-plane');
      await mkdir(dir);
      const json = await timed('synth', async () => synthesizeControlPlane(input));
      await writeFile(join(dir, 'cdk.tf.json'), json);
      const resourceCount = Object.values((JSON.parse(json) as { resource: Record<string, object> }).resource).reduce(
        (total, byName) => total + Object.keys(byName).length,
        0,
      );

      await timed('init', () => cli.init(dir));
      const create = await timed('plan', () => cli.plan(dir, join(dir, 'create.tfplan')));
      expect(create).toMatchObject({ add: resourceCount, change: 0, destroy: 0 });
      await timed('apply', () => cli.apply(dir, join(dir, 'create.tfplan')));
      const outputs = await timed('output', () => cli.output(dir));

      // The store table, its keys and TTL.
      const dynamodb = new DynamoDBClient(config);
      const { Table: table } = await dynamodb.send(new DescribeTableCommand({ TableName: 'fleetbot' }));
      expect(table).toMatchObject({ BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' }, GlobalSecondaryIndexes: expect.any(Array) });
      expect(table!.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: 'fleetbot' }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });

      // The queue sends failures to its dead letters.
      const sqs = new SQSClient(config);
      const queue = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: outputs.queue_url.value as string, AttributeNames: ['All'] }));
      expect(JSON.parse(queue.Attributes!.RedrivePolicy!)).toEqual({
        deadLetterTargetArn: 'arn:aws:sqs:us-east-1:123456789012:fleetbot-jobs-dlq',
        maxReceiveCount: 5,
      });

      // The functions: handlers, the public URL, the queue feeding the worker, the schedule calling tick.
      const webhooks = JSON.parse(await awsApi(moto, 'lambda', { path: '/2015-03-31/functions/fleetbot-webhooks' })) as {
        Configuration: { Handler: string; Runtime: string; Environment: { Variables: Record<string, string> } };
      };
      expect(webhooks.Configuration).toMatchObject({ Handler: 'dist/src/lambda.webhooks', Runtime: 'nodejs20.x' });
      expect(webhooks.Configuration.Environment.Variables).toMatchObject({
        FLEETBOT_QUEUE_URL: outputs.queue_url.value,
        FLEETBOT_SECRETS_SSM_PREFIX: '/fleetbot/app',
      });
      const url = JSON.parse(await awsApi(moto, 'lambda', { path: '/2021-10-31/functions/fleetbot-webhooks/url' })) as Record<
        string,
        string
      >;
      expect(url).toMatchObject({ AuthType: 'NONE', FunctionUrl: outputs.webhook_url.value });
      const mappings = JSON.parse(await awsApi(moto, 'lambda', { path: '/2015-03-31/event-source-mappings/' })) as {
        EventSourceMappings: { EventSourceArn: string; FunctionArn: string; BatchSize: number }[];
      };
      expect(mappings.EventSourceMappings).toEqual([
        expect.objectContaining({
          EventSourceArn: 'arn:aws:sqs:us-east-1:123456789012:fleetbot-jobs',
          FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fleetbot-worker',
          BatchSize: 10,
        }),
      ]);
      const targets = JSON.parse(
        await awsApi(moto, 'events', { target: 'AWSEvents.ListTargetsByRule', body: { Rule: 'fleetbot-tick' } }),
      ) as { Targets: { Arn: string }[] };
      expect(targets.Targets.map((target) => target.Arn)).toEqual(['arn:aws:lambda:us-east-1:123456789012:function:fleetbot-tick']);

      // The service: two replicas, with the App credentials as ECS secrets naming the operator's parameters.
      const [service] = (await ecs.send(new DescribeServicesCommand({ cluster: 'fleetbot', services: ['fleetbot'] }))).services ?? [];
      expect(service).toMatchObject({ serviceName: 'fleetbot', desiredCount: 2, launchType: 'FARGATE' });
      const { taskDefinition } = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition }));
      const parameterArns = await Promise.all(
        APP_SECRET_NAMES.map(async (name) => (await ssm.send(new GetParameterCommand({ Name: `/fleetbot/app/${name}` }))).Parameter!.ARN),
      );
      expect(taskDefinition!.containerDefinitions![0].secrets!.map((secret) => secret.valueFrom)).toEqual(parameterArns);

      // The alarms, each notifying the topic.
      const alarms = await awsApi(moto, 'monitoring', { form: 'Action=DescribeAlarms&Version=2010-08-01' });
      expect([...alarms.matchAll(/<AlarmName>([^<]+)<\/AlarmName>/g)].map((match) => match[1]).sort()).toEqual([
        'fleetbot-dead-letters',
        'fleetbot-queue-age',
        'fleetbot-tick-errors',
        'fleetbot-webhooks-errors',
        'fleetbot-worker-errors',
      ]);
      expect(alarms.split(TOPIC).length - 1).toBeGreaterThanOrEqual(5);

      // Nothing to change after apply but what moto does not echo back as AWS does: the ECS service's
      // availability_zone_rebalancing (absent) and the redrive policy (re-serialized with spaces).
      const again = await timed('plan after apply', () => cli.plan(dir, join(dir, 'again.tfplan')));
      expect(again).toMatchObject({ add: 0, change: 2, destroy: 0 });
      expect(updatedTypes(again)).toEqual(['aws_ecs_service', 'aws_sqs_queue']);
      expect(again.text).toContain('+ availability_zone_rebalancing');
      expect(again.text).toContain('~ redrive_policy                    = jsonencode( # whitespace changes');
    },
    TIMEOUT_MS,
  );
});
