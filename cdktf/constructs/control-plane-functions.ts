import { Construct } from 'constructs';
import { Fn } from 'cdktf';
import { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target/index.js';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { LambdaEventSourceMapping } from '@cdktf/provider-aws/lib/lambda-event-source-mapping/index.js';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function/index.js';
import { LambdaFunctionUrl } from '@cdktf/provider-aws/lib/lambda-function-url/index.js';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission/index.js';
import type { PolicyStatement } from './app-policy.js';
import { ControlPlaneRole, logStatement } from './control-plane-roles.js';

/** The handlers of the built app's Lambda entry point (src/lambda.ts), all in one zip. */
export const LAMBDA_HANDLERS = {
  webhooks: 'dist/src/lambda.webhooks',
  worker: 'dist/src/lambda.worker',
  tick: 'dist/src/lambda.tick',
} as const;
export type LambdaRole = keyof typeof LAMBDA_HANDLERS;

const LAMBDA_RUNTIME = 'nodejs20.x';

/** Size and time limit per function. GitHub gives a webhook 10 s; a worker batch launches up to 10 runners. */
export const LAMBDA_SIZING: Record<LambdaRole, { timeoutSeconds: number; memoryMiB: number }> = {
  webhooks: { timeoutSeconds: 10, memoryMiB: 256 },
  worker: { timeoutSeconds: 60, memoryMiB: 512 },
  tick: { timeoutSeconds: 60, memoryMiB: 512 },
};

/** Messages per worker invocation. */
const WORKER_BATCH_SIZE = 10;

type RolePolicies = Record<string, readonly PolicyStatement[]>;

export interface ControlPlaneFunctionsProps {
  name: string;
  /** The zip (`npm run package:lambda`), as Terraform finds it from its working directory. */
  zipPath: string;
  /** The environment every function gets; FLEETBOT_WORKER is set per function. */
  environment: Record<string, string>;
  /** Each function's permissions besides its own logs; without worker policies there is no worker function. */
  policies: { webhooks: RolePolicies; tick: RolePolicies; worker?: RolePolicies };
  queueArn: string;
  tickSchedule: string;
  logRetentionDays: number;
  tags: Record<string, string>;
}

/**
 * The Lambda side of the control plane, from one zip: `webhooks` behind a function URL (verify, enqueue,
 * answer), `worker` fed by the queue (when the service replicas do not consume it), and `tick` on an
 * EventBridge schedule (reconciler, polls, recovery, under the store's lease).
 */
export class ControlPlaneFunctions extends Construct {
  readonly functions: Partial<Record<LambdaRole, LambdaFunction>> = {};
  readonly webhookUrl: string;
  private readonly sourceCodeHash: string;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: ControlPlaneFunctionsProps,
  ) {
    super(scope, id);
    // Read by Terraform when it plans: a rebuilt zip changes the hash and updates every function.
    this.sourceCodeHash = Fn.filebase64sha256(props.zipPath);
    const webhooks = this.appFunction('webhooks', props.policies.webhooks);
    // GitHub and GitLab cannot sign with SigV4: the function URL is public and the app checks each
    // delivery's signature (HMAC, X-Gitlab-Token) before enqueuing anything.
    const url = new LambdaFunctionUrl(this, 'webhooks-url', { functionName: webhooks.functionName, authorizationType: 'NONE' });
    new LambdaPermission(this, 'webhooks-url-permission', {
      statementId: 'PublicFunctionUrl',
      action: 'lambda:InvokeFunctionUrl',
      functionName: webhooks.functionName,
      principal: '*',
      functionUrlAuthType: 'NONE',
    });
    this.webhookUrl = url.functionUrl;
    if (props.policies.worker) this.worker(props.policies.worker);
    this.tick(props.policies.tick);
  }

  private worker(policies: RolePolicies): void {
    const worker = this.appFunction('worker', policies);
    new LambdaEventSourceMapping(this, 'worker-queue', {
      eventSourceArn: this.props.queueArn,
      functionName: worker.arn,
      batchSize: WORKER_BATCH_SIZE,
      // One bad message is retried (and dead-lettered) alone; the rest of its batch is not redone.
      functionResponseTypes: ['ReportBatchItemFailures'],
    });
  }

  private tick(policies: RolePolicies): void {
    const tick = this.appFunction('tick', policies);
    const rule = new CloudwatchEventRule(this, 'tick-schedule', {
      name: `${this.props.name}-tick`,
      description: 'fleetbot: periodic work (reconciler, CircleCI polls, delivery recovery, warm pools)',
      scheduleExpression: this.props.tickSchedule,
      tags: this.props.tags,
    });
    new CloudwatchEventTarget(this, 'tick-target', { rule: rule.name, targetId: 'tick', arn: tick.arn });
    new LambdaPermission(this, 'tick-permission', {
      statementId: 'TickSchedule',
      action: 'lambda:InvokeFunction',
      functionName: tick.functionName,
      principal: 'events.amazonaws.com',
      sourceArn: rule.arn,
    });
  }

  /** A function with its role and its log group, the one Lambda writes to by default (`/aws/lambda/<name>`). */
  private appFunction(role: LambdaRole, policies: RolePolicies): LambdaFunction {
    const { name, tags } = this.props;
    const functionName = `${name}-${role}`;
    const logs = new CloudwatchLogGroup(this, `${role}-logs`, {
      name: `/aws/lambda/${functionName}`,
      retentionInDays: this.props.logRetentionDays,
      tags,
    });
    const identity = new ControlPlaneRole(this, `${role}-role`, {
      roleName: `${functionName}-function`,
      description: `fleetbot control plane: the ${role} function`,
      service: 'lambda.amazonaws.com',
      policies: { ...policies, logs: [logStatement(logs.arn)] },
      tags,
    });
    const fn = new LambdaFunction(this, role, {
      functionName,
      description: `fleetbot: ${role}`,
      role: identity.role.arn,
      runtime: LAMBDA_RUNTIME,
      handler: LAMBDA_HANDLERS[role],
      filename: this.props.zipPath,
      sourceCodeHash: this.sourceCodeHash,
      timeout: LAMBDA_SIZING[role].timeoutSeconds,
      memorySize: LAMBDA_SIZING[role].memoryMiB,
      environment: { variables: { ...this.props.environment, FLEETBOT_WORKER: String(role === 'worker') } },
      tags,
      // Lambda checks the event source mapping's queue permissions when it is created, and the first
      // invocation writes logs: the role's policies come first.
      dependsOn: identity.policies,
    });
    this.functions[role] = fn;
    return fn;
  }
}
