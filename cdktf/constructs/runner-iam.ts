import { Construct } from 'constructs';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity/index.js';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';

/** Where the app keeps runner credentials, a level per fleet; see src/secrets/ssm.ts (`/fleetbot/runners/<fleet>/<runner>`). */
const RUNNER_PARAMETER_PATH = 'fleetbot/runners';

export interface RunnerRoleProps {
  fleet: string;
  region: string;
  /** The role's name, `fleetbot-<fleet>-…`. */
  roleName: string;
  /** The AWS service that assumes the role: `ecs-tasks.amazonaws.com` or `ec2.amazonaws.com`. */
  service: string;
  tags: Record<string, string>;
}

/** A role trusted by one AWS service, as a policy document. */
export function trustPolicy(service: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}

/**
 * The role a runner runs as. Its only permissions: read and delete the credential parameters of its own
 * fleet's runners, `<fleet>/*`, which is all the runner needs before the job starts. The "/" after the
 * fleet name is what keeps fleet `foo` out of `foo-bar/…` (IAM's `*` matches across "/" too).
 * Parameters encrypted with the account's aws/ssm key need no KMS grant.
 */
export class RunnerRole extends Construct {
  readonly role: IamRole;

  constructor(scope: Construct, id: string, props: RunnerRoleProps) {
    super(scope, id);
    const partition = new DataAwsPartition(this, 'partition');
    const account = new DataAwsCallerIdentity(this, 'account');
    const credentials = new DataAwsIamPolicyDocument(this, 'credentials', {
      statement: [
        {
          sid: 'OwnFleetRunnerCredentials',
          effect: 'Allow',
          actions: ['ssm:DeleteParameter', 'ssm:GetParameter'],
          resources: [
            `arn:${partition.partition}:ssm:${props.region}:${account.accountId}:parameter/${RUNNER_PARAMETER_PATH}/${props.fleet}/*`,
          ],
        },
      ],
    });
    this.role = new IamRole(this, 'role', {
      name: props.roleName,
      description: `fleetbot fleet ${props.fleet}: runners`,
      assumeRolePolicy: trustPolicy(props.service),
      tags: props.tags,
    });
    new IamRolePolicy(this, 'credentials-policy', {
      name: 'runner-credentials',
      role: this.role.name,
      policy: credentials.json,
    });
  }
}
