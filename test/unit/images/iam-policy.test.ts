import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthesizeFleet } from '../../../cdktf/synth.js';
import { runnerParameterName } from '../../../src/secrets/ssm.js';
import { iamResourceMatches, parameterArn } from '../../helpers/iam.js';
import { provisionedEc2Fleet, provisionedFargateFleet, providerSettingsFor } from '../../helpers/terraform.js';

/**
 * images/fleetbot/iam-policy.json is the app's IAM policy, and the README points to it: it must allow
 * every AWS call src/ makes, and nothing else. iam-policy-issueops.json is what IssueOps' Terraform
 * needs on top, for the resources the CDKTF constructs create.
 */

interface Statement {
  Sid: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: unknown;
}
interface Policy {
  Version: string;
  Statement: Statement[];
}

const readPolicy = (file: string): Policy => JSON.parse(readFileSync(join('images', 'fleetbot', file), 'utf8')) as Policy;
const actionsOf = (policy: Policy): Set<string> => new Set(policy.Statement.flatMap((statement) => [statement.Action].flat()));

// The IAM service prefix of each AWS SDK client package src/ may use.
const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-ssm': 'ssm',
};

/**
 * The DynamoDB document client's commands (@aws-sdk/lib-dynamodb) and the IAM actions each needs. A
 * transaction has no action of its own: each of its items is authorized as the single-item write it is.
 */
const DOCUMENT_COMMANDS: Record<string, string[]> = {
  BatchWriteCommand: ['dynamodb:BatchWriteItem'],
  DeleteCommand: ['dynamodb:DeleteItem'],
  GetCommand: ['dynamodb:GetItem'],
  PutCommand: ['dynamodb:PutItem'],
  QueryCommand: ['dynamodb:Query'],
  UpdateCommand: ['dynamodb:UpdateItem'],
  TransactWriteCommand: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
};

/** What AWS authorizes besides the call's own action, for the way src/ makes the call. */
const ALSO_AUTHORIZED: Record<string, { actions: string[]; why: string }> = {
  'ecs:RunTask': { actions: ['ecs:TagResource', 'iam:PassRole'], why: 'tags on launch; the task and execution roles' },
  'ec2:RunInstances': { actions: ['ec2:CreateTags', 'iam:PassRole'], why: "TagSpecifications; the launch template's instance profile" },
  'ssm:PutParameter': {
    actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
    why: 'SecureString under FLEETBOT_SSM_KMS_KEY_ID (a data key when the account default tier is advanced)',
  },
  'ssm:GetParameter': { actions: ['kms:Decrypt'], why: 'WithDecryption, for CI tokens under a customer-managed key' },
  'ssm:GetParameters': { actions: ['kms:Decrypt'], why: "WithDecryption, for the App's credentials under a customer-managed key" },
};

// The CLI's commands (store:init, store:migrate...) run as the operator, with the operator's credentials, not the app's role.
const OPERATOR_TOOLS = join('src', 'cli');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? join(dir, entry.name) === OPERATOR_TOOLS
        ? []
        : sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every SDK command src/ constructs, as `<iam prefix>:<operation>`, with the file it is sent from. */
function commandsSentBySrc(): Map<string, string> {
  const commands = new Map<string, string>();
  for (const file of sourceFiles('src')) {
    const text = readFileSync(file, 'utf8');
    const imported = new Map<string, string>();
    for (const match of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/client-[a-z0-9-]+)'/g)) {
      for (const name of match[1].split(',').map((part) => part.trim())) {
        if (name && !name.startsWith('type ')) imported.set(name.split(/\s+as\s+/).pop()!, match[2]);
      }
      expect(IAM_PREFIX).toHaveProperty([match[2]]);
    }
    for (const name of imported.keys()) {
      // Paginators send commands of their own; none is used today, and a new one needs its action here.
      expect(`${file}: ${name}`).not.toMatch(/: paginate/);
    }
    const documentCommands = new Set(
      [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/lib-dynamodb'/g)].flatMap((match) =>
        match[1].split(',').map((part) => part.trim()),
      ),
    );
    for (const match of text.matchAll(/new\s+([A-Z][A-Za-z0-9]*)Command\(/g)) {
      if (documentCommands.has(`${match[1]}Command`)) {
        const actions = DOCUMENT_COMMANDS[`${match[1]}Command`];
        if (!actions) throw new Error(`${file}: new ${match[1]}Command( (lib-dynamodb) has no IAM actions in DOCUMENT_COMMANDS`);
        for (const action of actions) commands.set(action, file);
        continue;
      }
      const client = imported.get(`${match[1]}Command`);
      if (!client) throw new Error(`${file}: new ${match[1]}Command( is not imported from an @aws-sdk/client-* package`);
      commands.set(`${IAM_PREFIX[client]}:${match[1]}`, file);
    }
  }
  return commands;
}

describe('the app IAM policy (images/fleetbot/iam-policy.json)', () => {
  const policy = readPolicy('iam-policy.json');
  const allowed = actionsOf(policy);
  const commands = commandsSentBySrc();
  const needed = new Set([...commands.keys()].flatMap((action) => [action, ...(ALSO_AUTHORIZED[action]?.actions ?? [])]));

  it('finds the AWS calls of every compute backend, of the SSM credentials and sweep, and of the DynamoDB store', () => {
    expect([...commands.keys()]).toEqual(
      expect.arrayContaining([
        'ecs:RunTask',
        'ec2:RunInstances',
        'autoscaling:SetDesiredCapacity',
        'ssm:PutParameter',
        'ssm:GetParameter',
        'ssm:DescribeParameters',
        'ssm:DeleteParameters',
        'dynamodb:ConditionCheckItem',
        'dynamodb:Query',
        'dynamodb:DescribeTable',
      ]),
    );
  });

  it('allows every action that src/ sends', () => {
    const missing = [...needed].filter((action) => !allowed.has(action));
    expect(missing).toEqual([]);
  });

  it('allows no action that src/ does not need', () => {
    const unneeded = [...allowed].filter((action) => !needed.has(action));
    expect(unneeded).toEqual([]);
  });

  it('is an allow-only policy with no wildcard actions', () => {
    expect(policy.Version).toBe('2012-10-17');
    expect(new Set(policy.Statement.map((statement) => statement.Sid)).size).toBe(policy.Statement.length);
    for (const statement of policy.Statement) {
      expect(statement.Effect).toBe('Allow');
      for (const action of [statement.Action].flat()) expect(action).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
    }
  });

  it('scopes the runner credentials to their path, and leaves the sweep only what has no resource scope', () => {
    const sid = (name: string) => policy.Statement.find((statement) => statement.Sid === name)!;
    const resource = sid('RunnerCredentials').Resource as string;
    expect(resource).toBe('arn:aws:ssm:<region>:<account>:parameter/fleetbot/runners/*');
    const arn = (name: string) => parameterArn(name, '<region>', '<account>');
    // The app writes and deletes each fleet's parameters, and the sweep deletes those written before per-fleet paths.
    expect(iamResourceMatches(resource, arn(runnerParameterName('foo-bar', 'foo-bar-1-abc123')))).toBe(true);
    expect(iamResourceMatches(resource, arn('/fleetbot/runners/foo-bar-1-abc123'))).toBe(true);
    expect(iamResourceMatches(resource, arn('/fleetbot/gitlab/api-token'))).toBe(false);
    expect(sid('RunnerCredentials').Action).toEqual(expect.arrayContaining(['ssm:DeleteParameters']));
    // DescribeParameters takes no resource ARN; the app filters on the path itself.
    expect(sid('SweepRunnerCredentials')).toMatchObject({ Action: 'ssm:DescribeParameters', Resource: '*' });
  });
});

/**
 * What the AWS provider calls to create, read, update and delete each Terraform type that the fleet
 * stacks use (data sources: read only). A new type in cdktf/constructs/ fails the first test below
 * until its actions are listed here and allowed in the policy.
 */
const TERRAFORM_ACTIONS: Record<string, string[]> = {
  aws_ecs_cluster: [
    'ecs:CreateCluster',
    'ecs:DescribeClusters',
    'ecs:UpdateCluster',
    'ecs:DeleteCluster',
    'ecs:TagResource',
    'ecs:UntagResource',
    'ecs:ListTagsForResource',
  ],
  aws_ecs_cluster_capacity_providers: ['ecs:PutClusterCapacityProviders', 'ecs:DescribeClusters'],
  aws_ecs_task_definition: [
    'ecs:RegisterTaskDefinition',
    'ecs:DescribeTaskDefinition',
    'ecs:DeregisterTaskDefinition',
    'ecs:TagResource',
    'ecs:UntagResource',
    'ecs:ListTagsForResource',
    'iam:PassRole',
  ],
  aws_cloudwatch_log_group: [
    'logs:CreateLogGroup',
    'logs:DescribeLogGroups',
    'logs:DeleteLogGroup',
    'logs:PutRetentionPolicy',
    'logs:DeleteRetentionPolicy',
    'logs:TagResource',
    'logs:UntagResource',
    'logs:ListTagsForResource',
  ],
  aws_iam_role: [
    'iam:CreateRole',
    'iam:GetRole',
    'iam:UpdateRole',
    'iam:UpdateAssumeRolePolicy',
    'iam:DeleteRole',
    'iam:TagRole',
    'iam:UntagRole',
    'iam:ListRolePolicies',
    'iam:ListAttachedRolePolicies',
    'iam:ListInstanceProfilesForRole',
  ],
  aws_iam_role_policy: ['iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:DeleteRolePolicy'],
  aws_iam_role_policy_attachment: ['iam:AttachRolePolicy', 'iam:ListAttachedRolePolicies', 'iam:DetachRolePolicy'],
  // AddRoleToInstanceProfile also checks iam:PassRole on the role.
  aws_iam_instance_profile: [
    'iam:CreateInstanceProfile',
    'iam:GetInstanceProfile',
    'iam:AddRoleToInstanceProfile',
    'iam:RemoveRoleFromInstanceProfile',
    'iam:DeleteInstanceProfile',
    'iam:TagInstanceProfile',
    'iam:UntagInstanceProfile',
    'iam:PassRole',
  ],
  aws_launch_template: [
    'ec2:CreateLaunchTemplate',
    'ec2:DescribeLaunchTemplates',
    'ec2:DescribeLaunchTemplateVersions',
    'ec2:CreateLaunchTemplateVersion',
    'ec2:ModifyLaunchTemplate',
    'ec2:DeleteLaunchTemplate',
    'ec2:CreateTags',
    'ec2:DeleteTags',
  ],
  // The provider replaces the default allow-all egress rule with the configured ones, and on delete
  // looks for network interfaces still holding the group.
  aws_security_group: [
    'ec2:CreateSecurityGroup',
    'ec2:DescribeSecurityGroups',
    'ec2:DeleteSecurityGroup',
    'ec2:AuthorizeSecurityGroupEgress',
    'ec2:AuthorizeSecurityGroupIngress',
    'ec2:RevokeSecurityGroupEgress',
    'ec2:RevokeSecurityGroupIngress',
    'ec2:CreateTags',
    'ec2:DeleteTags',
    'ec2:DescribeNetworkInterfaces',
  ],
  'data.aws_subnet': ['ec2:DescribeSubnets'],
  'data.aws_ami': ['ec2:DescribeImages'],
  // sts:GetCallerIdentity needs no permission; the partition and the policy document are computed locally.
  'data.aws_caller_identity': [],
  'data.aws_partition': [],
  'data.aws_iam_policy_document': [],
  'backend.local': [],
  'backend.s3': [
    's3:ListBucket',
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    'dynamodb:DescribeTable',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:DeleteItem',
  ],
};

interface TerraformJson {
  resource?: Record<string, unknown>;
  data?: Record<string, unknown>;
  terraform: { backend: Record<string, unknown> };
}

describe("IssueOps' Terraform IAM policy (images/fleetbot/iam-policy-issueops.json)", () => {
  const policy = readPolicy('iam-policy-issueops.json');
  const allowed = actionsOf(policy);
  const subnet = 'subnet-0123456789abcdef0';
  const provider = providerSettingsFor('http://127.0.0.1:5000');
  const stacks: TerraformJson[] = [
    synthesizeFleet(provisionedFargateFleet(subnet), { backend: { type: 'local' }, provider }),
    synthesizeFleet(provisionedEc2Fleet(subnet, { image: 'ubuntu/images/*' }), {
      backend: { type: 's3', bucket: 'state-bucket', keyPrefix: 'fleetbot', region: 'us-east-1', dynamodbTable: 'locks' },
      provider,
    }),
  ].map((text) => JSON.parse(text) as TerraformJson);
  const types = new Set(
    stacks.flatMap((stack) => [
      ...Object.keys(stack.resource ?? {}),
      ...Object.keys(stack.data ?? {}).map((type) => `data.${type}`),
      ...Object.keys(stack.terraform.backend).map((type) => `backend.${type}`),
    ]),
  );

  it('knows the actions of every Terraform type the fleet stacks use', () => {
    expect([...types].filter((type) => !(type in TERRAFORM_ACTIONS))).toEqual([]);
    expect([...types]).toEqual(expect.arrayContaining(['aws_ecs_cluster', 'aws_launch_template', 'data.aws_ami', 'backend.s3']));
  });

  it('allows the actions of every type the fleet stacks create', () => {
    const missing = [...types].flatMap((type) =>
      TERRAFORM_ACTIONS[type].filter((action) => !allowed.has(action)).map((action) => `${type}: ${action}`),
    );
    expect(missing).toEqual([]);
  });

  it('allows nothing that no fleet type needs', () => {
    const needed = new Set(Object.values(TERRAFORM_ACTIONS).flat());
    expect([...allowed].filter((action) => !needed.has(action))).toEqual([]);
  });

  it('keeps IAM to fleetbot-* roles and instance profiles, and the execution role to its one managed policy', () => {
    for (const statement of policy.Statement) {
      expect(statement.Effect).toBe('Allow');
      if (![statement.Action].flat().some((action) => action.startsWith('iam:'))) continue;
      for (const resource of [statement.Resource].flat())
        expect(resource).toMatch(/^arn:aws:iam::<account>:(role|instance-profile)\/fleetbot-\*$/);
    }
    const attach = policy.Statement.find((statement) => [statement.Action].flat().includes('iam:AttachRolePolicy'))!;
    expect(attach.Condition).toEqual({
      ArnEquals: { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy' },
    });
  });
});
