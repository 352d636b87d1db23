import { Construct } from 'constructs';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster/index.js';
import { EcsService } from '@cdktf/provider-aws/lib/ecs-service/index.js';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition/index.js';
import type { PolicyStatement } from './app-policy.js';
import { ControlPlaneRole } from './control-plane-roles.js';

export interface ControlPlaneServiceProps {
  name: string;
  region: string;
  image: string;
  replicas: number;
  cpu: number;
  memoryMiB: number;
  subnets: readonly string[];
  securityGroups: readonly string[];
  assignPublicIp: boolean;
  /** Plain environment of the app's container. */
  environment: Record<string, string>;
  /** Environment variables ECS fills from SSM when it starts a task: name → parameter ARN. */
  secrets: Record<string, string>;
  /** What ECS needs to read those parameters (the execution role), and what the app may do (the task role). */
  secretStatements: readonly PolicyStatement[];
  taskPolicies: Record<string, readonly PolicyStatement[]>;
  /** The execution role's AWS managed policy (image pull, logs), whose ARN depends on the partition. */
  executionPolicyArn: string;
  logRetentionDays: number;
  tags: Record<string, string>;
}

const CONTAINER = 'fleetbot';
const PORT = 3000;
// images/fleetbot/Dockerfile's HEALTHCHECK, which ECS ignores: the task definition repeats it.
const HEALTH_CHECK = [
  'CMD',
  'node',
  '-e',
  "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/ping').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
];

/**
 * The ECS Fargate service: `replicas` copies of the fleetbot image (the app plus Terraform), which run
 * IssueOps and, without a worker function, consume the queue. The App's credentials reach the container
 * as ECS `secrets`, read from SSM when a task starts: never in the task definition.
 */
export class ControlPlaneService extends Construct {
  readonly cluster: EcsCluster;
  readonly service: EcsService;

  constructor(scope: Construct, id: string, props: ControlPlaneServiceProps) {
    super(scope, id);
    const { name, tags } = props;
    this.cluster = new EcsCluster(this, 'cluster', { name, tags });
    const logs = new CloudwatchLogGroup(this, 'logs', { name: `/aws/ecs/${name}`, retentionInDays: props.logRetentionDays, tags });
    const taskDefinition = this.taskDefinition(props, logs.name);
    this.service = new EcsService(this, 'service', {
      name,
      cluster: this.cluster.arn,
      taskDefinition: taskDefinition.arn,
      desiredCount: props.replicas,
      launchType: 'FARGATE',
      networkConfiguration: {
        subnets: [...props.subnets],
        securityGroups: [...props.securityGroups],
        assignPublicIp: props.assignPublicIp,
      },
      // A release whose tasks never get healthy rolls back instead of replacing the running replicas.
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      propagateTags: 'SERVICE',
      tags,
    });
  }

  private taskDefinition(props: ControlPlaneServiceProps, logGroup: string): EcsTaskDefinition {
    const { name, tags } = props;
    const execution = new ControlPlaneRole(this, 'execution-role', {
      roleName: `${name}-service-execution`,
      description: 'fleetbot control plane: ECS pulls the image, writes logs and reads the App credentials',
      service: 'ecs-tasks.amazonaws.com',
      policies: { 'app-secrets': props.secretStatements },
      managedPolicies: { 'execution-policy': props.executionPolicyArn },
      tags,
    });
    const task = new ControlPlaneRole(this, 'task-role', {
      roleName: `${name}-service-task`,
      description: 'fleetbot control plane: the app in the service replicas',
      service: 'ecs-tasks.amazonaws.com',
      policies: props.taskPolicies,
      tags,
    });
    return new EcsTaskDefinition(this, 'task-definition', {
      family: name,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu),
      memory: String(props.memoryMiB),
      executionRoleArn: execution.role.arn,
      taskRoleArn: task.role.arn,
      containerDefinitions: JSON.stringify([
        {
          name: CONTAINER,
          image: props.image,
          essential: true,
          // Fargate needs only the task-level size; the container-level one keeps moto able to place the task.
          memory: props.memoryMiB,
          portMappings: [{ containerPort: PORT, protocol: 'tcp' }],
          environment: Object.entries(props.environment)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([variable, value]) => ({ name: variable, value })),
          secrets: Object.entries(props.secrets).map(([variable, valueFrom]) => ({ name: variable, valueFrom })),
          healthCheck: { command: HEALTH_CHECK, interval: 30, timeout: 5, retries: 3, startPeriod: 20 },
          logConfiguration: {
            logDriver: 'awslogs',
            options: { 'awslogs-group': logGroup, 'awslogs-region': props.region, 'awslogs-stream-prefix': 'fleetbot' },
          },
        },
      ]),
      tags,
      // ECS reads the secrets with the execution role when the service starts its first task.
      dependsOn: execution.policies,
    });
  }
}
