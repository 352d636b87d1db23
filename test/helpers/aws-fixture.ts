import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  ModifyVpcAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Moto } from './moto.js';

/** What a runner fleet needs in AWS, created in moto the way an operator's Terraform would. */
export interface RunnerInfra {
  cluster: string;
  taskDefinition: string;
  subnetId: string;
  securityGroupId: string;
}

export function clientsFor(moto: Moto) {
  const config = {
    endpoint: moto.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  return { ecs: new ECSClient(config), ssm: new SSMClient(config), ec2: new EC2Client(config) };
}

/** Where runner tasks get their network interface: a VPC, a subnet and a security group. */
export interface RunnerNetwork {
  vpcId: string;
  subnetId: string;
  securityGroupId: string;
}

export async function createRunnerNetwork(moto: Moto, groupName: string): Promise<RunnerNetwork> {
  const { ec2 } = clientsFor(moto);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  // moto refuses awsvpc tasks without DNS hostnames on the VPC.
  await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.0.1.0/24' }));
  const group = await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: groupName, Description: 'runners' }));
  return { vpcId, subnetId: subnet.Subnet!.SubnetId!, securityGroupId: group.GroupId! };
}

/**
 * A Fargate runner task definition. moto needs a container-level memory for awsvpc RunTask: without it
 * (`containerMemory: false`) it answers RunTask with HTTP 500 and an HTML page.
 */
export async function registerRunnerTaskDefinition(
  moto: Moto,
  options: { family: string; container?: string; image?: string; containerMemory?: boolean },
): Promise<void> {
  const { family, container = 'runner', image = 'fleetbot/github-runner:test', containerMemory = true } = options;
  await clientsFor(moto).ecs.send(
    new RegisterTaskDefinitionCommand({
      family,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '1024',
      memory: '2048',
      containerDefinitions: [{ name: container, image, essential: true, ...(containerMemory ? { memory: 2048 } : {}) }],
    }),
  );
}

export async function createRunnerInfra(moto: Moto, cluster = 'runners'): Promise<RunnerInfra> {
  const network = await createRunnerNetwork(moto, `${cluster}-runners`);
  await clientsFor(moto).ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  await registerRunnerTaskDefinition(moto, { family: 'gh-runner' });
  await moto.holdEcsTasksRunning();
  return { cluster, taskDefinition: 'gh-runner', subnetId: network.subnetId, securityGroupId: network.securityGroupId };
}

/** A fleets-file `compute` section for the runner infrastructure made above. */
export function ecsCompute(infra: RunnerInfra) {
  return {
    type: 'ecs' as const,
    cluster: infra.cluster,
    taskDefinition: infra.taskDefinition,
    subnets: [infra.subnetId],
    securityGroups: [infra.securityGroupId],
  };
}

/** A Fargate task definition without container-level memory: moto answers RunTask on it with HTTP 500 and an HTML page. */
export async function registerTaskDefinitionWithoutContainerMemory(moto: Moto, family = 'no-container-memory'): Promise<string> {
  await registerRunnerTaskDefinition(moto, { family, containerMemory: false });
  return family;
}

/** The jobs of the tasks fleetbot runs in the cluster now (not stopped), sorted. */
export async function runningJobIds(moto: Moto, cluster: string): Promise<(string | undefined)[]> {
  return (await fleetbotTasks(moto, cluster))
    .filter((task) => task.lastStatus !== 'STOPPED')
    .map((task) => tagOf(task, 'fleetbot:job'))
    .sort();
}

/** Every task fleetbot started in the cluster, running or stopped, with tags. */
export async function fleetbotTasks(moto: Moto, cluster: string): Promise<Task[]> {
  const { ecs } = clientsFor(moto);
  const arns: string[] = [];
  for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
    const page = await ecs.send(new ListTasksCommand({ cluster, startedBy: 'fleetbot', desiredStatus }));
    arns.push(...(page.taskArns ?? []));
  }
  const unique = [...new Set(arns)];
  const tasks: Task[] = [];
  for (let start = 0; start < unique.length; start += 100) {
    const page = await ecs.send(new DescribeTasksCommand({ cluster, tasks: unique.slice(start, start + 100), include: ['TAGS'] }));
    tasks.push(...(page.tasks ?? []));
  }
  return tasks;
}

export function tagOf(task: Task, key: string): string | undefined {
  return task.tags?.find((tag) => tag.key === key)?.value;
}

/** The parameter as SSM holds it, or undefined when it does not exist. */
export async function readParameter(moto: Moto, name: string) {
  try {
    const result = await clientsFor(moto).ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    return result.Parameter;
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return undefined;
    throw error;
  }
}
