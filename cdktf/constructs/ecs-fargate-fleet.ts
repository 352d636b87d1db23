import { Construct } from 'constructs';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster/index.js';
import { EcsClusterCapacityProviders } from '@cdktf/provider-aws/lib/ecs-cluster-capacity-providers/index.js';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js';
import { DEFAULT_FARGATE_CPU, DEFAULT_FARGATE_MEMORY_MIB, type ecsKind } from '../../src/fleets/compute-ecs.js';
import type { EcsCompute } from '../../src/fleets/spec.js';
import type { FleetBuilder } from './fleet-builder.js';
import { RunnerRole, trustPolicy } from './runner-iam.js';
import { RunnerSecurityGroup } from './runner-security-group.js';

export interface EcsFargateFleetProps {
  fleet: string;
  region: string;
  /** Names from the fleet's compute section, which the app uses to launch runners. */
  clusterName: string;
  taskDefinitionFamily: string;
  containerName: string;
  subnets: readonly string[];
  /** The runner's container image. */
  image: string;
  /** Task size: CPU units (1024 = 1 vCPU) and MiB, a valid Fargate combination. */
  cpu: number;
  memoryMiB: number;
  /** Security groups to run in; when empty the construct creates one. */
  securityGroups: readonly string[];
  tags: Record<string, string>;
}

const LOG_RETENTION_DAYS = 30;

/** A Fargate fleet: cluster, runner task definition, its roles and logs, and a security group if none is given. */
export class EcsFargateFleet extends Construct {
  readonly clusterName: string;
  readonly taskDefinitionFamily: string;
  readonly containerName: string;
  readonly securityGroupIds: string[];

  constructor(scope: Construct, id: string, props: EcsFargateFleetProps) {
    super(scope, id);
    const { fleet, tags } = props;

    const cluster = new EcsCluster(this, 'cluster', { name: props.clusterName, tags });
    // The app asks for FARGATE_SPOT or FARGATE per task (capacity provider strategy), so both are attached.
    new EcsClusterCapacityProviders(this, 'capacity-providers', {
      clusterName: cluster.name,
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    });

    const logs = new CloudwatchLogGroup(this, 'logs', {
      name: `/fleetbot/${fleet}`,
      retentionInDays: LOG_RETENTION_DAYS,
      tags,
    });

    const taskDefinition = this.taskDefinition(props, logs.name);

    this.clusterName = cluster.name;
    this.taskDefinitionFamily = taskDefinition.family;
    this.containerName = props.containerName;
    this.securityGroupIds =
      props.securityGroups.length > 0
        ? [...props.securityGroups]
        : [new RunnerSecurityGroup(this, 'security-group', { fleet, subnetId: props.subnets[0], tags }).group.id];
  }

  /** The runner's task definition, with the role ECS starts it with and the role it runs as. */
  private taskDefinition(props: EcsFargateFleetProps, logGroup: string): EcsTaskDefinition {
    const runner = this.roles(props);
    return new EcsTaskDefinition(this, 'task-definition', {
      family: props.taskDefinitionFamily,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu),
      memory: String(props.memoryMiB),
      executionRoleArn: runner.execution.arn,
      taskRoleArn: runner.task.arn,
      containerDefinitions: JSON.stringify([
        {
          name: props.containerName,
          image: props.image,
          essential: true,
          // Fargate needs only the task-level size; the container-level one keeps AWS-compatible APIs
          // (moto) able to place the task.
          memory: props.memoryMiB,
          logConfiguration: {
            logDriver: 'awslogs',
            options: { 'awslogs-group': logGroup, 'awslogs-region': props.region, 'awslogs-stream-prefix': 'runner' },
          },
        },
      ]),
      tags: props.tags,
    });
  }

  private roles({ fleet, region, tags }: EcsFargateFleetProps): { execution: IamRole; task: IamRole } {
    const partition = new DataAwsPartition(this, 'partition');
    const execution = new IamRole(this, 'execution-role', {
      name: `fleetbot-${fleet}-execution`,
      description: `fleetbot fleet ${fleet}: ECS pulls the runner image and writes its logs`,
      assumeRolePolicy: trustPolicy('ecs-tasks.amazonaws.com'),
      tags,
    });
    new IamRolePolicyAttachment(this, 'execution-policy', {
      role: execution.name,
      policyArn: `arn:${partition.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy`,
    });
    const runner = new RunnerRole(this, 'task-role', {
      fleet,
      region,
      roleName: `fleetbot-${fleet}-task`,
      service: 'ecs-tasks.amazonaws.com',
      tags,
    });
    return { execution, task: runner.role };
  }
}

/** An `ecs` fleet's stack: this construct, named as the compute section says, and the outputs the app reads back. */
export const buildEcsFargateFleet: FleetBuilder<EcsCompute, (typeof ecsKind)['outputs']['names'][number]> = (
  scope,
  { spec, compute, provision, tags },
) => {
  const fleet = new EcsFargateFleet(scope, 'fleet', {
    fleet: spec.name,
    region: provision.region,
    clusterName: compute.cluster,
    taskDefinitionFamily: compute.taskDefinition,
    containerName: compute.containerName ?? 'runner',
    subnets: compute.subnets,
    image: provision.image,
    cpu: provision.cpu ?? DEFAULT_FARGATE_CPU,
    memoryMiB: provision.memoryMiB ?? DEFAULT_FARGATE_MEMORY_MIB,
    securityGroups: provision.securityGroups,
    tags,
  });
  return {
    cluster: fleet.clusterName,
    task_definition: fleet.taskDefinitionFamily,
    container_name: fleet.containerName,
    subnets: compute.subnets,
    security_groups: fleet.securityGroupIds,
  };
};
