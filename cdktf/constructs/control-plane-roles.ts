import { Construct } from 'constructs';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js';
import { policyJson, type PolicyStatement } from './app-policy.js';
import { trustPolicy } from './runner-iam.js';

/**
 * The DynamoDB actions of the store (src/store/dynamo.ts), on the table and its indexes. Transactions are
 * authorized per item as these actions; test/unit/cdktf/control-plane.test.ts checks the list covers
 * every DynamoDB action iam-policy.json allows.
 */
export const STORE_TABLE_ACTIONS = [
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  // Opening the store checks that the table exists (src/store/open.ts), at every function's cold start.
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;

/** How a role uses the job queue. */
export const QUEUE_ACTIONS = {
  send: ['sqs:SendMessage'],
  // What a consumer calls, and what Lambda's event source mapping calls with the function's role.
  consume: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
} as const;

export function storeStatement(tableArn: string): PolicyStatement {
  return { Sid: 'StoreTable', Effect: 'Allow', Action: [...STORE_TABLE_ACTIONS], Resource: [tableArn, `${tableArn}/index/*`] };
}

export function queueStatement(queueArn: string, uses: readonly (keyof typeof QUEUE_ACTIONS)[]): PolicyStatement {
  return { Sid: 'JobQueue', Effect: 'Allow', Action: uses.flatMap((use) => QUEUE_ACTIONS[use]), Resource: queueArn };
}

/** Read the App's SecureStrings by name; with a customer-managed key, decrypt through SSM only. */
export function secretStatements(parameterArns: readonly string[], kmsKeyArn: string | undefined, region: string): PolicyStatement[] {
  const read: PolicyStatement = {
    Sid: 'AppSecrets',
    Effect: 'Allow',
    Action: ['ssm:GetParameter', 'ssm:GetParameters'],
    Resource: [...parameterArns],
  };
  if (kmsKeyArn === undefined) return [read];
  return [
    read,
    {
      Sid: 'AppSecretsKey',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: kmsKeyArn,
      Condition: { StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` } },
    },
  ];
}

/** Write to one log group (Lambda: the function's; the group itself is the stack's). */
export function logStatement(logGroupArn: string): PolicyStatement {
  return { Sid: 'OwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `${logGroupArn}:*` };
}

/**
 * The control plane's roles live under this path, so their ARNs (`role/fleetbot/control-plane/<name>`)
 * are out of reach of the `role/fleetbot-*` statements with which the app passes runner roles and
 * IssueOps manages fleet roles: neither can pass, or rewrite, a control-plane role.
 */
export const CONTROL_PLANE_ROLE_PATH = '/fleetbot/control-plane/';

export interface ControlPlaneRoleProps {
  roleName: string;
  description: string;
  /** The AWS service that assumes the role: `lambda.amazonaws.com` or `ecs-tasks.amazonaws.com`. */
  service: string;
  /** Inline policies by name; an empty one is left out. */
  policies: Record<string, readonly PolicyStatement[]>;
  /** AWS managed policies by construct id → ARN (the ECS execution role's). */
  managedPolicies?: Record<string, string>;
  tags: Record<string, string>;
}

/** A role trusted by one service, with one inline policy per concern (app, store, queue, secrets, logs). */
export class ControlPlaneRole extends Construct {
  readonly role: IamRole;
  /** The inline policies, for resources that need them in place before they are created. */
  readonly policies: IamRolePolicy[] = [];

  constructor(scope: Construct, id: string, props: ControlPlaneRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: props.roleName,
      path: CONTROL_PLANE_ROLE_PATH,
      description: props.description,
      assumeRolePolicy: trustPolicy(props.service),
      tags: props.tags,
    });
    for (const [name, statements] of Object.entries(props.policies)) {
      if (statements.length === 0) continue;
      this.policies.push(new IamRolePolicy(this, `policy-${name}`, { name, role: this.role.name, policy: policyJson(statements) }));
    }
    for (const [policyId, policyArn] of Object.entries(props.managedPolicies ?? {})) {
      new IamRolePolicyAttachment(this, policyId, { role: this.role.name, policyArn });
    }
  }
}
