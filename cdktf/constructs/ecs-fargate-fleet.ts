import { Construct } from 'constructs';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster/index.js';
import { EcsClusterCapacityProviders } from '@cdktf/provider-aws/lib/ecs-cluster-capacity-providers/index.js';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js';
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
      region: props.region,
      roleName: `fleetbot-${fleet}-task`,
      service: 'ecs-tasks.amazonaws.com',
      tags,
    });

    const taskDefinition = new EcsTaskDefinition(this, 'task-definition', {
      family: props.taskDefinitionFamily,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu),
      memory: String(props.memoryMiB),
      executionRoleArn: execution.arn,
      taskRoleArn: runner.role.arn,
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
            options: { 'awslogs-group': logs.name, 'awslogs-region': props.region, 'awslogs-stream-prefix': 'runner' },
          },
        },
      ]),
      tags,
    });

    this.clusterName = cluster.name;
    this.taskDefinitionFamily = taskDefinition.family;
    this.containerName = props.containerName;
    this.securityGroupIds =
      props.securityGroups.length > 0
        ? [...props.securityGroups]
        : [new RunnerSecurityGroup(this, 'security-group', { fleet, subnetId: props.subnets[0], tags }).group.id];
  }
}
