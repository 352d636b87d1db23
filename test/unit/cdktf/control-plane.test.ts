import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { MAX_RECEIVE_COUNT, synthesizeControlPlane } from '../../../cdktf/control-plane.js';
import { controlPlaneInputSchema } from '../../../cdktf/control-plane-input.js';
import { APP_SECRET_NAMES } from '../../../src/config.js';
import { renderPolicy, type PolicyDocument, type PolicyStatement } from '../../../cdktf/constructs/app-policy.js';
import { ALARM_THRESHOLDS } from '../../../cdktf/constructs/control-plane-alarms.js';
import { LAMBDA_HANDLERS } from '../../../cdktf/constructs/control-plane-functions.js';
import { CONTROL_PLANE_ROLE_PATH, QUEUE_ACTIONS, STORE_TABLE_ACTIONS } from '../../../cdktf/constructs/control-plane-roles.js';
import { STORE_TABLE_KEYS } from '../../../src/store/dynamo-table.js';
import { formatZodIssues } from '../../../src/zod-issues.js';

type Resource = Record<string, unknown>;
interface TerraformJson {
  variable?: unknown;
  data: Record<string, Record<string, Resource>>;
  resource: Record<string, Record<string, Resource>>;
  output: Record<string, { value: string }>;
}

const BASE = {
  region: 'us-east-1',
  service: { image: 'ghcr.io/acme/fleetbot:0.1.0-issueops', subnets: ['subnet-0123abcd'], securityGroups: ['sg-0123abcd'] },
  lambdaZip: 'fleetbot-lambda.zip',
  fleetClusters: ['fleetbot-linux-small'],
  autoScalingGroups: ['fleetbot-linux-pool'],
};
type Input = z.input<typeof controlPlaneInputSchema>;

function synth(input: Partial<Input> = {}): TerraformJson {
  const text = synthesizeControlPlane(controlPlaneInputSchema.parse({ ...BASE, ...input }));
  return JSON.parse(text, (key, value: unknown) => (key === '//' ? undefined : value)) as TerraformJson;
}

const resources = (json: TerraformJson, type: string): Resource[] => Object.values(json.resource[type] ?? {});
const only = (json: TerraformJson, type: string): Resource => {
  const found = resources(json, type);
  expect(found).toHaveLength(1);
  return found[0];
};
const addressOf = (json: TerraformJson, type: string, name: string): string => {
  const [id] = Object.entries(json.resource[type]).find(([, resource]) => resource.name === name || resource.function_name === name)!;
  return `${type}.${id}`;
};

/** Every statement of a role's inline policies, found by the role's name. */
function statementsOf(json: TerraformJson, roleName: string): PolicyStatement[] {
  const role = addressOf(json, 'aws_iam_role', roleName);
  return resources(json, 'aws_iam_role_policy')
    .filter((policy) => policy.role === `\${${role}.name}`)
    .flatMap((policy) => (JSON.parse(policy.policy as string) as PolicyDocument).Statement);
}
/** A function's environment, found by its name. */
const variablesOf = (json: TerraformJson, functionName: string): Record<string, string> =>
  (
    resources(json, 'aws_lambda_function').find((fn) => fn.function_name === functionName)!.environment as {
      variables: Record<string, string>;
    }
  ).variables;
const actions = (statements: PolicyStatement[]) => new Set(statements.flatMap((statement) => [statement.Action].flat()));
const policyFile = (file: string) => JSON.parse(readFileSync(`images/fleetbot/${file}`, 'utf8')) as PolicyDocument;

describe('the control-plane stack', () => {
  const json = synth();

  it('builds the store table with the keys the DynamoDB store writes, on demand, expiring records by TTL', () => {
    const table = only(json, 'aws_dynamodb_table');
    expect(table).toMatchObject({
      name: 'fleetbot',
      billing_mode: 'PAY_PER_REQUEST',
      hash_key: STORE_TABLE_KEYS.partition,
      range_key: STORE_TABLE_KEYS.sort,
      ttl: { attribute_name: STORE_TABLE_KEYS.ttl, enabled: true },
      point_in_time_recovery: { enabled: true },
    });
    expect(table.global_secondary_index).toEqual(
      STORE_TABLE_KEYS.indexes.map((index) => ({
        name: index.name,
        hash_key: index.partition,
        range_key: index.sort,
        projection_type: 'ALL',
      })),
    );
  });

  it('builds the job queue with a dead-letter queue it moves a message to after repeated failures', () => {
    const [deadLetters, queue] = ['fleetbot-jobs-dlq', 'fleetbot-jobs'].map((name) =>
      resources(json, 'aws_sqs_queue').find((candidate) => candidate.name === name),
    );
    expect(deadLetters).toMatchObject({ message_retention_seconds: 14 * 86_400, sqs_managed_sse_enabled: true });
    expect(JSON.parse(queue!.redrive_policy as string)).toEqual({
      deadLetterTargetArn: `\${${addressOf(json, 'aws_sqs_queue', 'fleetbot-jobs-dlq')}.arn}`,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    // Six times the worker function's 60 s, as AWS advises for a queue feeding Lambda.
    expect(queue).toMatchObject({ visibility_timeout_seconds: 360, receive_wait_time_seconds: 20 });
  });

  it('runs the webhooks, worker and tick handlers from one zip on nodejs20.x, the zip hashed by terraform', () => {
    const functions = resources(json, 'aws_lambda_function');
    expect(functions.map((fn) => [fn.function_name, fn.handler])).toEqual([
      ['fleetbot-tick', LAMBDA_HANDLERS.tick],
      ['fleetbot-webhooks', LAMBDA_HANDLERS.webhooks],
      ['fleetbot-worker', LAMBDA_HANDLERS.worker],
    ]);
    for (const fn of functions) {
      expect(fn).toMatchObject({
        runtime: 'nodejs20.x',
        filename: 'fleetbot-lambda.zip',
        source_code_hash: '${filebase64sha256("fleetbot-lambda.zip")}',
      });
    }
    expect(only(json, 'aws_lambda_function_url')).toMatchObject({ authorization_type: 'NONE' });
    expect(only(json, 'aws_lambda_event_source_mapping')).toMatchObject({
      function_name: `\${${addressOf(json, 'aws_lambda_function', 'fleetbot-worker')}.arn}`,
      function_response_types: ['ReportBatchItemFailures'],
    });
    expect(only(json, 'aws_cloudwatch_event_rule')).toMatchObject({ schedule_expression: 'rate(1 minute)' });
    expect(only(json, 'aws_cloudwatch_event_target').arn).toBe(`\${${addressOf(json, 'aws_lambda_function', 'fleetbot-tick')}.arn}`);
  });

  it('gives each function the app environment, FLEETBOT_WORKER only to the worker, and the secrets by name only', () => {
    const variables = Object.fromEntries(
      resources(json, 'aws_lambda_function').map((fn) => [
        fn.function_name,
        (fn.environment as { variables: Record<string, string> }).variables,
      ]),
    );
    expect(variables['fleetbot-worker']).toEqual({
      NODE_ENV: 'production',
      FLEETBOT_STORE: `dynamodb:\${${addressOf(json, 'aws_dynamodb_table', 'fleetbot')}.name}`,
      FLEETBOT_QUEUE_URL: `\${${addressOf(json, 'aws_sqs_queue', 'fleetbot-jobs')}.url}`,
      FLEETBOT_LEASE_SECONDS: '60',
      FLEETBOT_SECRETS_SSM_PREFIX: '/fleetbot/app',
      FLEETBOT_WORKER: 'true',
    });
    expect(variables['fleetbot-webhooks'].FLEETBOT_WORKER).toBe('false');
    expect(variables['fleetbot-tick'].FLEETBOT_WORKER).toBe('false');
  });

  it('lets the webhook function only send to the queue, read the webhook secret and write its own logs', () => {
    const statements = statementsOf(json, 'fleetbot-webhooks-function');
    expect([...actions(statements)].sort()).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:SendMessage',
      'ssm:GetParameter',
      'ssm:GetParameters',
    ]);
    const resourcesOf = (sid: string) => [statements.find((statement) => statement.Sid === sid)!.Resource].flat();
    expect(resourcesOf('JobQueue')).toEqual([`\${${addressOf(json, 'aws_sqs_queue', 'fleetbot-jobs')}.arn}`]);
    expect(resourcesOf('AppSecrets')).toEqual([expect.stringMatching(/:parameter\/fleetbot\/app\/WEBHOOK_SECRET$/)]);
    expect(resourcesOf('OwnLogs')).toEqual([`\${${addressOf(json, 'aws_cloudwatch_log_group', '/aws/lambda/fleetbot-webhooks')}.arn}:*`]);
    expect(resources(json, 'aws_iam_role_policy_attachment').map((attachment) => attachment.role)).toEqual([
      `\${${addressOf(json, 'aws_iam_role', 'fleetbot-service-execution')}.name}`,
    ]);
  });

  it("gives the worker, tick and service roles the app's policy file, the table and indexes, and their queue use", () => {
    const file = policyFile('iam-policy.json');
    // KmsThroughSsm is for a customer-managed key, which this input does not name.
    // The queue's actions are given per role, by its use of the queue (below), not as the file lists them.
    const fromFile = file.Statement.filter((statement) => statement.Sid !== 'KmsThroughSsm')
      .flatMap((statement) => [statement.Action].flat())
      .filter((action) => !action.startsWith('sqs:'));
    for (const role of ['fleetbot-worker-function', 'fleetbot-tick-function', 'fleetbot-service-task']) {
      const statements = statementsOf(json, role);
      const granted = actions(statements);
      expect(fromFile.filter((action) => !granted.has(action))).toEqual([]);
      expect(JSON.stringify(statements)).not.toMatch(/<[a-z-]+>/);
      const store = statements.find((statement) => statement.Sid === 'StoreTable')!;
      const table = `\${${addressOf(json, 'aws_dynamodb_table', 'fleetbot')}.arn}`;
      expect(store.Resource).toEqual([table, `${table}/index/*`]);
    }
    const queueActions = (role: string) => statementsOf(json, role).find((statement) => statement.Sid === 'JobQueue')!.Action;
    expect(queueActions('fleetbot-worker-function')).toEqual([...QUEUE_ACTIONS.consume]);
    expect(queueActions('fleetbot-tick-function')).toEqual([...QUEUE_ACTIONS.send]);
    expect(queueActions('fleetbot-service-task')).toEqual([...QUEUE_ACTIONS.send]);
    // The fleets' cluster fills the file's <cluster>; no IssueOps permissions were asked for.
    expect(JSON.stringify(statementsOf(json, 'fleetbot-service-task'))).toContain(':cluster/fleetbot-linux-small');
    expect(actions(statementsOf(json, 'fleetbot-service-task')).has('ecs:CreateCluster')).toBe(false);
  });

  it("lets worker and tick read the App's credentials as the app reads them at cold start: GetParameters on <prefix>/<name>", () => {
    const prefix = variablesOf(json, 'fleetbot-tick').FLEETBOT_SECRETS_SSM_PREFIX;
    const parameters = APP_SECRET_NAMES.map((name) => expect.stringMatching(new RegExp(`:parameter${prefix}/${name}$`)));
    for (const role of ['fleetbot-worker-function', 'fleetbot-tick-function']) {
      const secrets = statementsOf(json, role).find((statement) => statement.Sid === 'AppSecrets')!;
      expect([secrets.Action].flat()).toContain('ssm:GetParameters');
      expect([secrets.Resource].flat()).toEqual(parameters);
    }
    // The store is opened at cold start: DescribeTable first (src/store/open.ts).
    expect(actions(statementsOf(json, 'fleetbot-tick-function')).has('dynamodb:DescribeTable')).toBe(true);
  });

  it('passes the App credentials to the service as ECS secrets from SSM, and holds no secret anywhere in clear', () => {
    const [container] = JSON.parse(only(json, 'aws_ecs_task_definition').container_definitions as string) as {
      environment: { name: string; value: string }[];
      secrets: { name: string; valueFrom: string }[];
    }[];
    expect(container.secrets.map((secret) => secret.name)).toEqual([...APP_SECRET_NAMES]);
    for (const secret of container.secrets) expect(secret.valueFrom).toMatch(new RegExp(`:parameter/fleetbot/app/${secret.name}$`));
    expect(container.environment.map((variable) => variable.name)).not.toEqual(expect.arrayContaining(['APP_ID']));
    expect(statementsOf(json, 'fleetbot-service-execution').find((statement) => statement.Sid === 'AppSecrets')!.Resource).toHaveLength(3);
    // No variables to pass a secret in, no SSM parameter resource or data source whose value would land in the state.
    expect(json.variable).toBeUndefined();
    expect(Object.keys(json.resource).filter((type) => type.startsWith('aws_ssm'))).toEqual([]);
    expect(Object.keys(json.data).filter((type) => type.startsWith('aws_ssm'))).toEqual([]);
    expect(Object.keys(json.output).sort()).toEqual([
      'cluster_name',
      'dead_letter_queue_url',
      'queue_url',
      'service_name',
      'table_name',
      'webhook_url',
    ]);
  });

  it('runs two replicas of the image on Fargate in the given subnets and groups, with the image health check', () => {
    expect(only(json, 'aws_ecs_service')).toMatchObject({
      desired_count: 2,
      launch_type: 'FARGATE',
      network_configuration: { subnets: ['subnet-0123abcd'], security_groups: ['sg-0123abcd'], assign_public_ip: false },
      deployment_circuit_breaker: { enable: true, rollback: true },
    });
    const [container] = JSON.parse(only(json, 'aws_ecs_task_definition').container_definitions as string) as Record<string, unknown>[];
    expect(container).toMatchObject({
      image: 'ghcr.io/acme/fleetbot:0.1.0-issueops',
      healthCheck: { command: expect.arrayContaining(['node']) },
    });
    expect(container.environment).toEqual(expect.arrayContaining([{ name: 'FLEETBOT_WORKER', value: 'false' }]));
  });

  it("alarms on dead letters above 0, a queue age above 60 s and each function's errors", () => {
    const alarms = Object.fromEntries(resources(json, 'aws_cloudwatch_metric_alarm').map((alarm) => [alarm.alarm_name, alarm]));
    expect(Object.keys(alarms).sort()).toEqual([
      'fleetbot-dead-letters',
      'fleetbot-queue-age',
      'fleetbot-tick-errors',
      'fleetbot-webhooks-errors',
      'fleetbot-worker-errors',
    ]);
    expect(alarms['fleetbot-dead-letters']).toMatchObject({ metric_name: 'ApproximateNumberOfMessagesVisible', threshold: 0 });
    expect(alarms['fleetbot-queue-age']).toMatchObject({ metric_name: 'ApproximateAgeOfOldestMessage', threshold: 60 });
    expect(alarms['fleetbot-worker-errors']).toMatchObject({ namespace: 'AWS/Lambda', metric_name: 'Errors', threshold: 0 });
    expect(ALARM_THRESHOLDS.queueAgeSeconds.above).toBe(60);
    for (const alarm of Object.values(alarms)) expect(alarm).toMatchObject({ comparison_operator: 'GreaterThanThreshold', period: 60 });
    expect(alarms['fleetbot-dead-letters'].alarm_actions).toBeUndefined();

    const topic = 'arn:aws:sns:us-east-1:123456789012:oncall';
    const notified = resources(synth({ alarmActions: [topic] }), 'aws_cloudwatch_metric_alarm');
    for (const alarm of notified) expect(alarm).toMatchObject({ alarm_actions: [topic], ok_actions: [topic] });
  });

  it('leaves the queue to the service replicas when there is no worker function', () => {
    const replicas = synth({ workerLambda: false, service: { ...BASE.service, replicas: 3 } });
    expect(resources(replicas, 'aws_lambda_function').map((fn) => fn.function_name)).toEqual(['fleetbot-tick', 'fleetbot-webhooks']);
    expect(replicas.resource.aws_lambda_event_source_mapping).toBeUndefined();
    expect(only(replicas, 'aws_ecs_service').desired_count).toBe(3);
    const [container] = JSON.parse(only(replicas, 'aws_ecs_task_definition').container_definitions as string) as Record<string, unknown>[];
    expect(container.environment).toEqual(expect.arrayContaining([{ name: 'FLEETBOT_WORKER', value: 'true' }]));
    const queue = statementsOf(replicas, 'fleetbot-service-task').find((statement) => statement.Sid === 'JobQueue')!;
    expect(queue.Action).toEqual([...QUEUE_ACTIONS.send, ...QUEUE_ACTIONS.consume]);
    expect(Object.keys(resources(replicas, 'aws_cloudwatch_metric_alarm').map((alarm) => alarm.alarm_name))).toHaveLength(4);
  });

  it("adds IssueOps' Terraform policy to the service replicas when asked, on the fleets' state bucket", () => {
    const statements = statementsOf(synth({ issueOps: { stateBucket: 'acme-fleet-state' } }), 'fleetbot-service-task');
    expect(actions(statements).has('ecs:CreateCluster')).toBe(true);
    const objects = statements.find((statement) => statement.Sid === 'StateObjects')!;
    expect(objects.Resource).toBe('arn:aws:s3:::acme-fleet-state/fleetbot/*');
    // No lock table was named: its statement is left out rather than left with a placeholder.
    expect(statements.map((statement) => statement.Sid)).not.toContain('StateLockTable');
  });

  it("keeps its roles out of reach of the app's and IssueOps' statements on fleetbot-* roles", () => {
    const withIssueOps = synth({ issueOps: { stateBucket: 'acme-fleet-state' } });
    const roleArns = resources(withIssueOps, 'aws_iam_role').map((role) => {
      expect(role.path).toBe(CONTROL_PLANE_ROLE_PATH);
      return `arn:aws:iam::123456789012:role${role.path as string}${role.name as string}`;
    });
    expect(roleArns).toHaveLength(5);
    // IAM's wildcard: `*` matches any run of characters, `/` included.
    const rolePatterns = ['iam-policy.json', 'iam-policy-issueops.json']
      .flatMap((file) => policyFile(file).Statement)
      .flatMap((statement) => [statement.Resource].flat())
      .filter((resource) => resource.includes(':role/'))
      .map((resource) => new RegExp(`^${resource.replace('<account>', '123456789012').replaceAll('*', '.*')}$`));
    expect(rolePatterns.length).toBeGreaterThan(0);
    expect(rolePatterns.some((pattern) => pattern.test('arn:aws:iam::123456789012:role/fleetbot-linux-small-task'))).toBe(true);
    expect(roleArns.filter((arn) => rolePatterns.some((pattern) => pattern.test(arn)))).toEqual([]);
  });

  it("keeps each role's inline policies within IAM's 10,240 characters, for many fleets and IssueOps", () => {
    const clusters = Array.from({ length: 10 }, (_, index) => `fleetbot-fleet-${index}`);
    const groups = Array.from({ length: 5 }, (_, index) => `fleetbot-pool-${index}`);
    const large = synth({
      fleetClusters: clusters,
      autoScalingGroups: groups,
      issueOps: { stateBucket: 'acme-fleet-state', lockTable: 'locks' },
    });
    const sizes = new Map<string, number>();
    for (const policy of resources(large, 'aws_iam_role_policy')) {
      // IAM counts the document without whitespace, with the account id in place of the token.
      const text = (policy.policy as string).replaceAll(/\$\{[^}]+\}/g, '123456789012');
      sizes.set(policy.role as string, (sizes.get(policy.role as string) ?? 0) + text.length);
    }
    expect(sizes.size).toBe(5);
    expect(Math.max(...sizes.values())).toBeLessThanOrEqual(10_240);
  });

  it('writes byte-identical text for the same input', () => {
    const input = controlPlaneInputSchema.parse(BASE);
    expect(synthesizeControlPlane(input)).toBe(synthesizeControlPlane(input));
  });
});

describe('the store and queue actions the stack grants', () => {
  // DynamoDB and SQS statements of the app's policy file are left to the stack, scoped per role: the
  // stack must still grant whatever the file says the app calls.
  const file = policyFile('iam-policy.json');
  const fileActions = (service: string) => [...actions(file.Statement)].filter((action) => action.startsWith(service));

  it('cover every DynamoDB and SQS action images/fleetbot/iam-policy.json allows', () => {
    expect(fileActions('dynamodb:').filter((action) => !(STORE_TABLE_ACTIONS as readonly string[]).includes(action))).toEqual([]);
    const queue = [...QUEUE_ACTIONS.send, ...QUEUE_ACTIONS.consume] as string[];
    expect(fileActions('sqs:').filter((action) => !queue.includes(action))).toEqual([]);
  });
});

describe('renderPolicy', () => {
  const statement = (Sid: string, Resource: string): PolicyStatement => ({ Sid, Effect: 'Allow', Action: 'ecs:RunTask', Resource });
  const policy = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement });

  it('fills a list placeholder with one ARN per value, in the resource and in conditions, and drops the statement for none', () => {
    const tasks: PolicyStatement = {
      Sid: 'Tasks',
      Effect: 'Allow',
      Action: 'ecs:RunTask',
      Resource: ['arn:aws:ecs:<region>:<account>:task/<cluster>/*', 'arn:aws:ecs:<region>:<account>:task-definition/*'],
      Condition: { ArnEquals: { 'ecs:cluster': 'arn:aws:ecs:<region>:<account>:cluster/<cluster>' } },
    };
    expect(renderPolicy(policy(tasks), { region: 'eu-west-1', account: '1', cluster: ['a', 'b'] })).toEqual([
      {
        ...tasks,
        Resource: ['arn:aws:ecs:eu-west-1:1:task/a/*', 'arn:aws:ecs:eu-west-1:1:task/b/*', 'arn:aws:ecs:eu-west-1:1:task-definition/*'],
        Condition: { ArnEquals: { 'ecs:cluster': ['arn:aws:ecs:eu-west-1:1:cluster/a', 'arn:aws:ecs:eu-west-1:1:cluster/b'] } },
      },
    ]);
    expect(
      renderPolicy(policy(statement('Tasks', 'arn:aws:ecs:<region>:<account>:task/<cluster>/*')), {
        region: 'r',
        account: '1',
        cluster: ['a'],
      }),
    ).toEqual([statement('Tasks', 'arn:aws:ecs:r:1:task/a/*')]);
    expect(renderPolicy(policy(tasks), { region: 'eu-west-1', account: '1', cluster: [] })).toEqual([]);
  });

  it('drops a statement whose placeholder has no value (an optional KMS key)', () => {
    expect(renderPolicy(policy(statement('Kms', 'arn:aws:kms:r:a:key/<key-id>')), { 'key-id': undefined })).toEqual([]);
  });

  it('refuses a placeholder it has no entry for, naming it', () => {
    expect(() => renderPolicy(policy(statement('Table', 'arn:aws:dynamodb:r:a:table/<table>')), {})).toThrow(
      'policy statement Table: no value for <table>',
    );
  });

  it('leaves out DynamoDB and SQS statements, which the stack scopes per role', () => {
    const queue: PolicyStatement = {
      Sid: 'Queue',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: 'arn:aws:sqs:<region>:<account>:<queue>',
    };
    expect(renderPolicy(policy(queue), {})).toEqual([]);
  });
});

describe('the control-plane input', () => {
  it('lists every problem: secrets in clear, variables the stack sets, a Fargate size that does not exist, no subnet', () => {
    const result = controlPlaneInputSchema.safeParse({
      ...BASE,
      service: { ...BASE.service, subnets: [], cpu: 1024, memoryMiB: 1024 },
      environment: { GITHUB_CLIENT_SECRET: 'x', FLEETBOT_QUEUE_URL: 'x', LOG_LEVEL: 'debug' },
      tickSchedule: 'every minute',
    });
    expect(result.success).toBe(false);
    expect(formatZodIssues(result.error!)).toEqual([
      'service.subnets: Too small: expected array to have >=1 items',
      'service.memoryMiB: expected a multiple of 1024 from 2048 to 8192 for 1024 CPU units',
      'tickSchedule: expected rate(1 minute) or cron(...)',
      'environment.GITHUB_CLIENT_SECRET: looks like a secret: keep it in SSM (secretsParameterPrefix), not in clear in the environment',
      'environment.FLEETBOT_QUEUE_URL: is set by the stack itself',
    ]);
  });

  it("refuses a fleetbot-… name, whose clusters and task definitions are the fleets' (IssueOps manages them)", () => {
    const result = controlPlaneInputSchema.safeParse({ ...BASE, name: 'fleetbot-prod' });
    expect(formatZodIssues(result.error!)).toEqual(["name: fleetbot-… names are the fleets' (IssueOps manages them): choose another"]);
  });

  it('defaults to two replicas, a worker function and a one-minute tick', () => {
    expect(controlPlaneInputSchema.parse(BASE)).toMatchObject({
      name: 'fleetbot',
      service: { replicas: 2, cpu: 1024, memoryMiB: 2048 },
      workerLambda: true,
      tickSchedule: 'rate(1 minute)',
      secretsParameterPrefix: '/fleetbot/app',
      terraform: { backend: { type: 'local' } },
    });
  });
});
