import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { App, TerraformOutput, TerraformStack } from 'cdktf';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import type { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table/index.js';
import { awsProvider, stateBackend } from './aws-provider.js';
import { APP_SECRET_NAMES, type AppSecretName } from '../src/config.js';
import type { ControlPlaneInput } from './control-plane-input.js';
import { readPolicyFile, renderPolicy, type PolicyStatement } from './constructs/app-policy.js';
import { ControlPlaneAlarms } from './constructs/control-plane-alarms.js';
import { ControlPlaneFunctions, LAMBDA_SIZING } from './constructs/control-plane-functions.js';
import { queueStatement, secretStatements, storeStatement } from './constructs/control-plane-roles.js';
import { ControlPlaneService } from './constructs/control-plane-service.js';
import { JobQueue } from './constructs/job-queue.js';
import { StoreTable } from './constructs/store-table.js';

/** Receives of a job event before it goes to the dead-letter queue (and the alarm). */
export const MAX_RECEIVE_COUNT = 5;
// AWS's advice for a queue feeding a function: six times its timeout, so retries by Lambda's poller
// never find a message that is still being worked on.
const VISIBILITY_TIMEOUT_SECONDS = 6 * LAMBDA_SIZING.worker.timeoutSeconds;

const TAGS = { 'fleetbot:managed-by': 'fleetbot', 'fleetbot:component': 'control-plane' };

/** What the parts of the stack share: names, ARNs and the app's environment. */
interface Shared {
  input: ControlPlaneInput;
  partition: string;
  account: string;
  /** An SSM parameter's ARN from its name (`/fleetbot/app/APP_ID`). */
  parameterArn(name: string): string;
  store: DynamodbTable;
  jobs: JobQueue;
  /** The App's SecureStrings: name → parameter ARN. */
  appSecrets: Record<AppSecretName, string>;
  /** Read all of them (and decrypt, with a customer-managed key). */
  readAppSecrets: PolicyStatement[];
  /** The app's own permissions, from images/fleetbot/iam-policy.json. */
  app: PolicyStatement[];
  environment: Record<string, string>;
}

/**
 * The scale-out deployment as one Terraform stack: the store's table, the job queue and its dead
 * letters, the webhook, worker and tick functions, the ECS service, least-privilege roles, log groups
 * and alarms. The App's credentials are SecureStrings the operator puts in SSM under
 * `secretsParameterPrefix`: the stack only names them, so their values never pass through Terraform
 * (neither its variables nor its state).
 */
export class ControlPlaneStack extends TerraformStack {
  constructor(scope: Construct, id: string, input: ControlPlaneInput) {
    super(scope, id);
    awsProvider(this, input.region, input.terraform.provider);
    stateBackend(this, `${input.name}-control-plane`, input.terraform.backend, input.terraform.provider);
    const shared = this.shared(input);
    const functions = this.functions(shared);
    const service = this.service(shared);
    new ControlPlaneAlarms(this, 'alarms', {
      name: input.name,
      queueName: shared.jobs.queue.name,
      deadLetterQueueName: shared.jobs.deadLetters.name,
      functionNames: Object.fromEntries(Object.entries(functions.functions).map(([role, fn]) => [role, fn.functionName])),
      actions: input.alarmActions,
      tags: TAGS,
    });
    this.output('webhook_url', functions.webhookUrl);
    this.output('queue_url', shared.jobs.queue.url);
    this.output('dead_letter_queue_url', shared.jobs.deadLetters.url);
    this.output('table_name', shared.store.name);
    this.output('cluster_name', service.cluster.name);
    this.output('service_name', service.service.name);
  }

  private shared(input: ControlPlaneInput): Shared {
    const { name, region } = input;
    const partition = new DataAwsPartition(this, 'partition').partition;
    const account = new DataAwsCallerIdentity(this, 'account').accountId;
    const store = new StoreTable(this, 'store', { tableName: name, tags: TAGS }).table;
    const jobs = new JobQueue(this, 'jobs', {
      queueName: `${name}-jobs`,
      visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      tags: TAGS,
    });
    const parameterArn = (parameter: string) => `arn:${partition}:ssm:${region}:${account}:parameter${parameter}`;
    const appSecrets = Object.fromEntries(
      APP_SECRET_NAMES.map((secret) => [secret, parameterArn(`${input.secretsParameterPrefix}/${secret}`)]),
    ) as Record<AppSecretName, string>;
    return {
      input,
      partition,
      account,
      parameterArn,
      store,
      jobs,
      appSecrets,
      readAppSecrets: secretStatements(Object.values(appSecrets), input.secretsKmsKeyArn, region),
      app: appStatements(input, account),
      environment: {
        ...input.environment,
        NODE_ENV: 'production',
        FLEETBOT_STORE: `dynamodb:${store.name}`,
        FLEETBOT_QUEUE_URL: jobs.queue.url,
        FLEETBOT_LEASE_SECONDS: String(input.leaseSeconds),
        ...(input.runnerKmsKeyId === undefined ? {} : { FLEETBOT_SSM_KMS_KEY_ID: input.runnerKmsKeyId }),
      },
    };
  }

  /** The webhook function may only enqueue and read its own secrets; worker and tick act as the app. */
  private functions({ input, parameterArn, store, jobs, appSecrets, readAppSecrets, app, environment }: Shared): ControlPlaneFunctions {
    const { region } = input;
    const actAsApp = (queue: PolicyStatement) => ({
      app,
      store: [storeStatement(store.arn)],
      queue: [queue],
      'app-secrets': readAppSecrets,
    });
    return new ControlPlaneFunctions(this, 'functions', {
      name: input.name,
      zipPath: input.lambdaZip,
      environment: { ...environment, FLEETBOT_SECRETS_SSM_PREFIX: input.secretsParameterPrefix },
      policies: {
        webhooks: {
          queue: [queueStatement(jobs.queue.arn, ['send'])],
          'app-secrets': secretStatements(
            [appSecrets.WEBHOOK_SECRET, ...input.webhookSecretParameters.map(parameterArn)],
            input.secretsKmsKeyArn,
            region,
          ),
        },
        tick: actAsApp(queueStatement(jobs.queue.arn, ['send'])),
        worker: input.workerLambda ? actAsApp(queueStatement(jobs.queue.arn, ['consume'])) : undefined,
      },
      queueArn: jobs.queue.arn,
      tickSchedule: input.tickSchedule,
      logRetentionDays: input.logRetentionDays,
      tags: TAGS,
    });
  }

  /** The replicas act as the app (and IssueOps); they consume the queue when no worker function does. */
  private service({ input, partition, account, store, jobs, appSecrets, readAppSecrets, app, environment }: Shared): ControlPlaneService {
    return new ControlPlaneService(this, 'service', {
      name: input.name,
      region: input.region,
      ...input.service,
      environment: { ...environment, AWS_REGION: input.region, FLEETBOT_WORKER: String(!input.workerLambda) },
      secrets: appSecrets,
      secretStatements: readAppSecrets,
      taskPolicies: {
        app,
        store: [storeStatement(store.arn)],
        queue: [queueStatement(jobs.queue.arn, input.workerLambda ? ['send'] : ['send', 'consume'])],
        issueops: issueOpsStatements(input, account),
      },
      executionPolicyArn: `arn:${partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy`,
      logRetentionDays: input.logRetentionDays,
      tags: TAGS,
    });
  }

  private output(name: string, value: string): void {
    new TerraformOutput(this, name, { value }).overrideLogicalId(name);
  }
}

/** The app's permissions (images/fleetbot/iam-policy.json) for this account and these fleets. */
function appStatements(input: ControlPlaneInput, account: string): PolicyStatement[] {
  return renderPolicy(readPolicyFile('iam-policy.json'), {
    region: input.region,
    account,
    cluster: input.fleetClusters,
    group: input.autoScalingGroups,
    'key-id': input.runnerKmsKeyId,
  });
}

/** What IssueOps' Terraform needs (images/fleetbot/iam-policy-issueops.json), when the replicas run IssueOps. */
function issueOpsStatements(input: ControlPlaneInput, account: string): PolicyStatement[] {
  if (!input.issueOps) return [];
  return renderPolicy(readPolicyFile('iam-policy-issueops.json'), {
    region: input.region,
    account,
    'state-bucket': input.issueOps.stateBucket,
    'key-prefix': input.issueOps.stateKeyPrefix,
    'lock-table': input.issueOps.lockTable,
  });
}

/** The control plane's Terraform JSON (cdk.tf.json), deterministic: the same input gives byte-identical text. */
export function synthesizeControlPlane(input: ControlPlaneInput): string {
  const outdir = mkdtempSync(join(tmpdir(), 'fleetbot-control-plane-'));
  try {
    // As cdktf/synth.ts: no stack traces in metadata, and JSON even when SYNTH_HCL_OUTPUT says otherwise.
    const app = new App({ outdir, stackTraces: false, hclOutput: false });
    const stack = new ControlPlaneStack(app, `${input.name}-control-plane`, input);
    app.synth();
    const synthesized = join(outdir, app.manifest.forStack(stack).synthesizedStackPath);
    if (!synthesized.endsWith('.json')) throw new Error('cdktf wrote HCL (SYNTH_HCL_OUTPUT=true?); fleetbot runs Terraform JSON');
    return readFileSync(synthesized, 'utf8');
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
