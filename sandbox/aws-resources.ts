import { CreateClusterCommand } from '@aws-sdk/client-ecs';
import type { EcsCompute, FleetSpec } from '../src/fleets/spec.js';
import { clientsFor, createRunnerNetwork, registerRunnerTaskDefinition, type RunnerNetwork } from '../test/helpers/aws-fixture.js';
import type { Moto } from '../test/helpers/moto.js';

/** The network the sandbox made for the fleets: every fleet's subnets and security groups become these. */
export type SandboxNetwork = RunnerNetwork;

/** What an operator's Terraform would have made for the fleets, so the narration can list it. */
export interface SandboxResources extends SandboxNetwork {
  clusters: { name: string; capacityProviders: string[] }[];
  taskDefinitions: { family: string; container: string }[];
}

// Fargate's own providers need no setup on AWS; an Auto Scaling group's would need instances that moto cannot run.
const FARGATE_PROVIDERS = ['FARGATE', 'FARGATE_SPOT'];

function ecsComputeOf(fleet: FleetSpec): EcsCompute {
  if (fleet.compute.type !== 'ecs') {
    throw new Error(`fleet ${fleet.name} runs on ${fleet.compute.type}: the sandbox builds ECS fleets only`);
  }
  const unsupported = fleet.compute.capacityProviders?.filter((provider) => !FARGATE_PROVIDERS.includes(provider)) ?? [];
  if (unsupported.length > 0) {
    throw new Error(`fleet ${fleet.name} uses capacity provider ${unsupported.join(', ')}: the sandbox runs FARGATE and FARGATE_SPOT only`);
  }
  return fleet.compute;
}

/**
 * Creates in moto what the fleets file refers to, the way the operator's Terraform would on AWS, with what
 * moto needs besides to run a task (see LOCAL-AWS.md; without each, RunTask fails):
 * - DNS hostnames on the VPC: moto refuses awsvpc tasks without them (HTTP 500);
 * - a container-level memory in the task definition: moto needs it for awsvpc RunTask (HTTP 500);
 * - tasks held RUNNING: by default moto moves a task towards STOPPED on every DescribeTasks, so the app's
 *   reconciler would see its runners die on their own and launch replacements.
 * The fourth gap, capacity providers, is the FargateShim's (fargate-shim.ts).
 */
export async function createFleetResources(moto: Moto, fleets: FleetSpec[]): Promise<SandboxResources> {
  const computes = fleets.map(ecsComputeOf);
  const { ecs } = clientsFor(moto);
  const network = await createRunnerNetwork(moto, 'fleetbot-runners');

  const clusters = new Map<string, string[]>();
  const taskDefinitions = new Map<string, string>();
  for (const compute of computes) {
    const providers = [...(clusters.get(compute.cluster) ?? []), ...(compute.capacityProviders ?? [])];
    clusters.set(compute.cluster, [...new Set(providers)]);
    // Without a containerName the app gives the credential to the task definition's first container.
    taskDefinitions.set(compute.taskDefinition, compute.containerName ?? 'runner');
  }
  for (const [name, capacityProviders] of clusters) {
    await ecs.send(new CreateClusterCommand({ clusterName: name, capacityProviders }));
  }
  for (const [family, container] of taskDefinitions) {
    await registerRunnerTaskDefinition(moto, { family, container, image: 'fleetbot/github-runner:sandbox' });
  }
  await moto.holdEcsTasksRunning();

  return {
    ...network,
    clusters: [...clusters].map(([name, capacityProviders]) => ({ name, capacityProviders })),
    taskDefinitions: [...taskDefinitions].map(([family, container]) => ({ family, container })),
  };
}
