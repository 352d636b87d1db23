import { randomUUID } from 'node:crypto';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplatesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand } from '@aws-sdk/client-ec2';
import { DescribeClustersCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import type { AwsClients } from '../aws.js';
import type { AsgCompute, Ec2Compute, EcsCompute, FleetSpec } from '../fleets/spec.js';
import { runnerParameterName, RunnerSecrets } from '../secrets/ssm.js';
import { describeError, fail, findings, pass, type DoctorCheck, type Finding } from './doctor-check.js';

type Problem = { problem: string; fix: string };

/** Each fleet's compute resources, as the SDK clients the app launches with see them. */
export function fleetResourceChecks(aws: AwsClients, fleets: readonly FleetSpec[], fleetsFile: string): DoctorCheck[] {
  return fleets.map((fleet) => ({
    name: `fleet ${fleet.name}: AWS resources`,
    async run() {
      const inFile = `compute of fleet ${fleet.name} in ${fleetsFile}`;
      let problems: Problem[];
      try {
        problems = await checksOf(fleet.compute).problems(aws, fleet.compute, inFile);
      } catch (error) {
        return fail(describeError(error), 'give this process AWS credentials and a region that may describe ECS, EC2 and Auto Scaling');
      }
      return findings(problems, checksOf(fleet.compute).describe(fleet.compute));
    },
  }));
}

type Compute = FleetSpec['compute'];
type ComputeOf<Type extends Compute['type']> = Extract<Compute, { type: Type }>;

/** One entry per compute type, as store/open.ts opens stores: a type without one does not compile. */
const COMPUTE_CHECKS: {
  [Type in Compute['type']]: {
    describe(compute: ComputeOf<Type>): string;
    problems(aws: AwsClients, compute: ComputeOf<Type>, inFile: string): Promise<Problem[]>;
  };
} = {
  ecs: {
    describe: (compute) => `cluster ${compute.cluster}, ${compute.taskDefinition}, ${compute.subnets.length} subnets`,
    problems: (aws, compute, inFile) => ecsProblems(aws, compute, inFile),
  },
  ec2: {
    describe: (compute) => `launch template ${compute.launchTemplate}, ${compute.subnets.length} subnets`,
    problems: (aws, compute, inFile) => ec2Problems(aws, compute, inFile),
  },
  asg: {
    describe: (compute) => `Auto Scaling group ${compute.autoScalingGroup}`,
    problems: (aws, compute, inFile) => asgProblems(aws, compute, inFile),
  },
};

function checksOf(compute: Compute): {
  describe(compute: Compute): string;
  problems(aws: AwsClients, compute: Compute, inFile: string): Promise<Problem[]>;
} {
  return COMPUTE_CHECKS[compute.type] as unknown as ReturnType<typeof checksOf>;
}

async function ecsProblems(aws: AwsClients, compute: EcsCompute, inFile: string): Promise<Problem[]> {
  const problems: Problem[] = [];
  const { clusters } = await aws.ecs.send(new DescribeClustersCommand({ clusters: [compute.cluster] }));
  const cluster = clusters?.[0];
  if (cluster?.status !== 'ACTIVE') {
    problems.push({
      problem: `ECS cluster ${compute.cluster} ${cluster ? `is ${cluster.status}` : 'does not exist'}`,
      fix: `create the ECS cluster ${compute.cluster} in this region, or name an existing one as compute.cluster (${inFile})`,
    });
  }
  try {
    await aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: compute.taskDefinition }));
  } catch (error) {
    if ((error as Error).name !== 'ClientException') throw error;
    problems.push({
      problem: `task definition ${compute.taskDefinition} does not exist`,
      fix: `register the task definition ${compute.taskDefinition}, or name an existing one as compute.taskDefinition (${inFile})`,
    });
  }
  problems.push(...(await networkProblems(aws, compute.subnets, compute.securityGroups, inFile)));
  return problems;
}

async function ec2Problems(aws: AwsClients, compute: Ec2Compute, inFile: string): Promise<Problem[]> {
  const problems: Problem[] = [];
  const byId = compute.launchTemplate.startsWith('lt-');
  try {
    const found = await aws.ec2.send(
      new DescribeLaunchTemplatesCommand(
        byId ? { LaunchTemplateIds: [compute.launchTemplate] } : { LaunchTemplateNames: [compute.launchTemplate] },
      ),
    );
    if ((found.LaunchTemplates ?? []).length === 0)
      throw Object.assign(new Error('not found'), { name: 'InvalidLaunchTemplateName.NotFoundException' });
  } catch (error) {
    if (!/^InvalidLaunchTemplate(Id|Name)\./.test((error as Error).name)) throw error;
    problems.push({
      problem: `launch template ${compute.launchTemplate} does not exist`,
      fix: `create the launch template ${compute.launchTemplate}, or name an existing one as compute.launchTemplate (${inFile})`,
    });
  }
  problems.push(...(await networkProblems(aws, compute.subnets, [], inFile)));
  return problems;
}

async function asgProblems(aws: AwsClients, compute: AsgCompute, inFile: string): Promise<Problem[]> {
  const found = await aws.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [compute.autoScalingGroup] }));
  if ((found.AutoScalingGroups ?? []).length > 0) return [];
  return [
    {
      problem: `Auto Scaling group ${compute.autoScalingGroup} does not exist`,
      fix: `create the Auto Scaling group ${compute.autoScalingGroup}, or name an existing one as compute.autoScalingGroup (${inFile})`,
    },
  ];
}

/** Filters rather than ids: a missing id is then left out of the answer instead of failing the call, so each is named. */
async function networkProblems(aws: AwsClients, subnets: readonly string[], groups: readonly string[], inFile: string): Promise<Problem[]> {
  const problems: Problem[] = [];
  const foundSubnets = await aws.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'subnet-id', Values: [...subnets] }] }));
  const subnetIds = new Set((foundSubnets.Subnets ?? []).map((subnet) => subnet.SubnetId));
  for (const subnet of subnets.filter((id) => !subnetIds.has(id))) {
    problems.push({
      problem: `subnet ${subnet} does not exist`,
      fix: `name an existing subnet of this region instead of ${subnet} in compute.subnets (${inFile})`,
    });
  }
  if (groups.length === 0) return problems;
  const foundGroups = await aws.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [...groups] }] }));
  const groupIds = new Set((foundGroups.SecurityGroups ?? []).map((group) => group.GroupId));
  for (const group of groups.filter((id) => !groupIds.has(id))) {
    problems.push({
      problem: `security group ${group} does not exist`,
      fix: `name an existing security group instead of ${group} in compute.securityGroups (${inFile})`,
    });
  }
  return problems;
}

/**
 * The runner credentials' round trip, as the app makes it (RunnerSecrets): a SecureString put under the
 * app's runner prefix, read back decrypted, deleted. Without a KMS key, with SSM's default key; with
 * FLEETBOT_SSM_KMS_KEY_ID, again with that key.
 */
export function parameterChecks(aws: AwsClients, kmsKeyId: string | undefined): DoctorCheck[] {
  return [
    { name: 'SSM parameters (put, get, delete)', run: () => roundTrip(aws, undefined) },
    {
      name: 'KMS key for runner credentials',
      run: async () => (kmsKeyId === undefined ? pass("none configured: SSM's default key (aws/ssm)") : roundTrip(aws, kmsKeyId)),
    },
  ];
}

async function roundTrip(aws: AwsClients, kmsKeyId: string | undefined): Promise<Finding> {
  const owner = { fleet: 'fleetbot-doctor', name: `check-${randomUUID().slice(0, 8)}` };
  const name = runnerParameterName(owner.fleet, owner.name);
  const value = randomUUID();
  const secrets = new RunnerSecrets(aws.ssm, kmsKeyId);
  let step = 'put';
  try {
    await secrets.put(owner, value);
    step = 'get';
    const read = await aws.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    step = 'delete';
    await secrets.delete(owner);
    if (read.Parameter?.Value !== value)
      return fail(`${name} read back a different value`, 'check that nothing else writes under /fleetbot/runners/');
    return pass(kmsKeyId === undefined ? `${name} written, read and deleted` : `key ${kmsKeyId} encrypts and decrypts`);
  } catch (error) {
    // The scratch parameter is not left behind when a later step failed; the step's own error is the finding.
    if (step !== 'put' && step !== 'delete') await secrets.delete(owner).catch(() => undefined);
    const detail = `${step} ${name}: ${describeError(error)}`;
    return kmsKeyId === undefined ? ssmFailure(detail) : kmsFailure(detail, kmsKeyId);
  }
}

function ssmFailure(detail: string): Finding {
  return fail(
    detail,
    'allow this role ssm:PutParameter, ssm:GetParameter, ssm:DeleteParameter and ssm:GetParametersByPath on parameter/fleetbot/runners/*',
  );
}

function kmsFailure(detail: string, kmsKeyId: string): Finding {
  return fail(
    detail,
    `make FLEETBOT_SSM_KMS_KEY_ID (${kmsKeyId}) an existing, enabled key of this region, and allow this role ` +
      'kms:Encrypt, kms:Decrypt and kms:GenerateDataKey on it (the runners need kms:Decrypt)',
  );
}
