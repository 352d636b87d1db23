import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ECSClient,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task,
} from '@aws-sdk/client-ecs';
import type { EcsCompute, EcsLaunchType, FleetSpec } from '../fleets/spec.js';
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

// A cluster with no container instances at all makes RunTask on EC2 throw an InvalidParameterException
// ("No Container Instances were found in your cluster."): a shortage too, as of an Auto Scaling group
// scaled to zero. Other InvalidParameterExceptions are configuration errors.
const NO_CONTAINER_INSTANCES = /No Container Instances were found/i;

// RunTask reports other shortages of the capacity behind a placement as per-task failures: Fargate's
// "Capacity is unavailable at this time", and on EC2 container instances RESOURCE:CPU, RESOURCE:MEMORY,
// RESOURCE:ENI... (no instance has enough left) or AGENT (their agents are disconnected). The
// no-container-instances message is matched here too, in case a capacity provider reports it this way.
function isCapacityFailure(reason: string | undefined): boolean {
  return /capacity|^RESOURCE:|^AGENT$/i.test(reason ?? '') || NO_CONTAINER_INSTANCES.test(reason ?? '');
}

/** Where a task is placed: one of the fleet's capacity providers, or its launch type when it names none. */
type Placement = { capacityProvider: string } | { launchType: EcsLaunchType };

function placementsOf(compute: EcsCompute): Placement[] {
  return compute.capacityProviders?.map((capacityProvider) => ({ capacityProvider })) ?? [{ launchType: compute.launchType ?? 'FARGATE' }];
}

function nameOf(placement: Placement): string {
  return 'capacityProvider' in placement ? placement.capacityProvider : placement.launchType;
}

/** The placement, and on EC2 the container instance, that took the task. */
function detailOf(placement: Placement, task: Task): string {
  const containerInstance = task.containerInstanceArn?.split('/').pop();
  return containerInstance ? `${nameOf(placement)} on container instance ${containerInstance}` : nameOf(placement);
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

/** The RunTask call every placement shares: where the task runs, what it is told, and how it is tagged. */
function runTaskInput(fleet: string, compute: EcsCompute, containerName: string, request: LaunchRequest): RunTaskCommandInput {
  return {
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
      containerOverrides: [{ name: containerName, environment: [{ name: CREDENTIAL_PARAMETER_ENV, value: request.credentialParameter }] }],
    },
    tags: [
      { key: TAG_FLEET, value: fleet },
      { key: TAG_JOB, value: request.jobId },
      { key: TAG_RUNNER, value: request.runnerName },
    ],
    enableECSManagedTags: true,
  };
}

/**
 * Runners as ECS tasks: on Fargate, Fargate Spot, the cluster's EC2 container instances, or any capacity
 * provider the cluster has (an Auto Scaling group's, for ECS on EC2).
 */
export class EcsBackend implements ComputeBackend {
  private readonly containerNames = new Map<string, Promise<string>>();

  constructor(private readonly ecs: ECSClient) {}

  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    const compute = ecsCompute(fleet);
    const base = runTaskInput(fleet.name, compute, await this.containerName(compute), request);
    const shortages: string[] = [];
    for (const placement of placementsOf(compute)) {
      const input: RunTaskCommandInput =
        'capacityProvider' in placement
          ? { ...base, capacityProviderStrategy: [{ capacityProvider: placement.capacityProvider, weight: 1 }] }
          : { ...base, launchType: placement.launchType };
      let result: RunTaskCommandOutput;
      try {
        result = await this.ecs.send(new RunTaskCommand(input));
      } catch (error) {
        if ((error as Error).name !== 'InvalidParameterException' || !NO_CONTAINER_INSTANCES.test((error as Error).message)) throw error;
        shortages.push(`${nameOf(placement)}: ${(error as Error).message}`);
        continue;
      }
      const task = result.tasks?.[0];
      // Fargate Spot has no price to read at launch (AWS publishes no API for it): the cost estimate prices it.
      if (task?.taskArn)
        return { computeId: task.taskArn, computeDetail: detailOf(placement, task), spot: nameOf(placement) === 'FARGATE_SPOT' };
      const reasons = (result.failures ?? []).map(
        (failure) => `${failure.reason ?? 'unknown'}${failure.detail ? ` (${failure.detail})` : ''}`,
      );
      if (!(result.failures ?? []).some((failure) => isCapacityFailure(failure.reason))) {
        throw new Error(`RunTask started no task: ${reasons.join('; ') || 'no failure reported'}`);
      }
      shortages.push(`${nameOf(placement)}: ${reasons.join('; ')}`);
    }
    throw new CapacityError(`no capacity for fleet ${fleet.name}: ${shortages.join(' | ')}`);
  }

  async stop(fleet: FleetSpec, computeId: string, reason: string): Promise<void> {
    try {
      await this.ecs.send(new StopTaskCommand({ cluster: ecsCompute(fleet).cluster, task: computeId, reason }));
    } catch (error) {
      const name = (error as Error).name;
      // A cluster that no longer exists (its fleet was destroyed) holds no task either.
      const gone =
        name === 'ClusterNotFoundException' ||
        ((name === 'InvalidParameterException' || name === 'ClientException') && /not (be )?found/i.test((error as Error).message));
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
      name = this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: compute.taskDefinition })).then((result) => {
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
