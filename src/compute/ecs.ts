import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ECSClient,
  type RunTaskCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import type { EcsCompute, FleetSpec } from '../fleets/spec.js';
import {
  CapacityError,
  STARTED_BY,
  TAG_FLEET,
  TAG_JOB,
  TAG_RUNNER,
  type ComputeBackend,
  type ComputeRunner,
  type ComputeState,
  type LaunchRequest,
  type LaunchedRunner,
} from './types.js';

/** The one variable a runner container is given: where to fetch its credential. */
export const CREDENTIAL_PARAMETER_ENV = 'FLEETBOT_RUNNER_CONFIG_PARAM';

// DescribeTasks takes at most 100 tasks per call.
const DESCRIBE_BATCH = 100;

// RunTask reports capacity shortages as per-task failures, not exceptions ("Capacity is unavailable
// at this time", or RESOURCE:CPU/MEMORY on EC2-backed capacity providers).
function isCapacityFailure(reason: string | undefined): boolean {
  return /capacity|^RESOURCE:/i.test(reason ?? '');
}

function stateOf(task: Task): ComputeState {
  switch (task.lastStatus) {
    case 'RUNNING':
      return 'running';
    case 'DEACTIVATING':
    case 'STOPPING':
    case 'DEPROVISIONING':
    case 'STOPPED':
      return 'stopped';
    default:
      return task.desiredStatus === 'STOPPED' ? 'stopped' : 'starting';
  }
}

function ecsCompute(fleet: FleetSpec): EcsCompute {
  if (fleet.compute.type !== 'ecs') throw new Error(`fleet ${fleet.name} does not run on ECS`);
  return fleet.compute;
}

/** Runners as ECS tasks: Fargate, Fargate Spot, or any capacity provider the cluster has. */
export class EcsBackend implements ComputeBackend {
  private readonly containerNames = new Map<string, Promise<string>>();

  constructor(private readonly ecs: ECSClient) {}

  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    const compute = ecsCompute(fleet);
    const containerName = await this.containerName(compute);
    const base: RunTaskCommandInput = {
      cluster: compute.cluster,
      taskDefinition: compute.taskDefinition,
      count: 1,
      startedBy: STARTED_BY,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: compute.subnets,
          securityGroups: compute.securityGroups.length > 0 ? compute.securityGroups : undefined,
          assignPublicIp: compute.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          { name: containerName, environment: [{ name: CREDENTIAL_PARAMETER_ENV, value: request.credentialParameter }] },
        ],
      },
      tags: [
        { key: TAG_FLEET, value: fleet.name },
        { key: TAG_JOB, value: request.jobId },
        { key: TAG_RUNNER, value: request.runnerName },
      ],
      enableECSManagedTags: true,
    };
    const placements = compute.capacityProviders ?? [undefined];
    const shortages: string[] = [];
    for (const capacityProvider of placements) {
      const input: RunTaskCommandInput = capacityProvider
        ? { ...base, capacityProviderStrategy: [{ capacityProvider, weight: 1 }] }
        : { ...base, launchType: 'FARGATE' };
      const result = await this.ecs.send(new RunTaskCommand(input));
      const task = result.tasks?.[0];
      if (task?.taskArn) return { computeId: task.taskArn, computeDetail: capacityProvider ?? 'FARGATE' };
      const reasons = (result.failures ?? []).map((failure) => `${failure.reason ?? 'unknown'}${failure.detail ? ` (${failure.detail})` : ''}`);
      if (!(result.failures ?? []).some((failure) => isCapacityFailure(failure.reason))) {
        throw new Error(`RunTask started no task: ${reasons.join('; ') || 'no failure reported'}`);
      }
      shortages.push(`${capacityProvider ?? 'FARGATE'}: ${reasons.join('; ')}`);
    }
    throw new CapacityError(`no capacity for fleet ${fleet.name}: ${shortages.join(' | ')}`);
  }

  async stop(fleet: FleetSpec, computeId: string, reason: string): Promise<void> {
    try {
      await this.ecs.send(new StopTaskCommand({ cluster: ecsCompute(fleet).cluster, task: computeId, reason }));
    } catch (error) {
      const name = (error as Error).name;
      const gone = (name === 'InvalidParameterException' || name === 'ClientException') && /not (be )?found/i.test((error as Error).message);
      if (!gone) throw error;
    }
  }

  async describe(fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>> {
    const cluster = ecsCompute(fleet).cluster;
    const states = new Map<string, ComputeState>(computeIds.map((id) => [id, 'missing']));
    for (let start = 0; start < computeIds.length; start += DESCRIBE_BATCH) {
      const batch = computeIds.slice(start, start + DESCRIBE_BATCH);
      const result = await this.ecs.send(new DescribeTasksCommand({ cluster, tasks: batch }));
      for (const task of result.tasks ?? []) {
        if (task.taskArn && states.has(task.taskArn)) states.set(task.taskArn, stateOf(task));
      }
    }
    return states;
  }

  async list(fleet: FleetSpec): Promise<ComputeRunner[]> {
    const cluster = ecsCompute(fleet).cluster;
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.ecs.send(new ListTasksCommand({ cluster, startedBy: STARTED_BY, desiredStatus: 'RUNNING', nextToken }));
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const runners: ComputeRunner[] = [];
    for (let start = 0; start < arns.length; start += DESCRIBE_BATCH) {
      const result = await this.ecs.send(
        new DescribeTasksCommand({ cluster, tasks: arns.slice(start, start + DESCRIBE_BATCH), include: ['TAGS'] }),
      );
      for (const task of result.tasks ?? []) {
        const tag = (key: string) => task.tags?.find((candidate) => candidate.key === key)?.value;
        const state = stateOf(task);
        if (!task.taskArn || tag(TAG_FLEET) !== fleet.name || state === 'stopped') continue;
        runners.push({ computeId: task.taskArn, runnerName: tag(TAG_RUNNER), state });
      }
    }
    return runners;
  }

  /** The container that receives the credential variable: configured, or the task definition's first. */
  private containerName(compute: EcsCompute): Promise<string> {
    if (compute.containerName) return Promise.resolve(compute.containerName);
    let name = this.containerNames.get(compute.taskDefinition);
    if (!name) {
      name = this.ecs
        .send(new DescribeTaskDefinitionCommand({ taskDefinition: compute.taskDefinition }))
        .then((result) => {
          const first = result.taskDefinition?.containerDefinitions?.[0]?.name;
          if (!first) throw new Error(`task definition ${compute.taskDefinition} has no containers`);
          return first;
        });
      // A failed lookup is not cached: the next launch asks again.
      name.catch(() => this.containerNames.delete(compute.taskDefinition));
      this.containerNames.set(compute.taskDefinition, name);
    }
    return name;
  }
}
