import type { Task } from '@aws-sdk/client-ecs';
import type { SandboxResources } from './aws-resources.js';

/**
 * What the sandbox prints, as pure functions of what it read from moto and the fake GitHub. Secrets never
 * reach these: a credential is named by its parameter and type, never by its value.
 */

export function resourcesLine(resources: SandboxResources): string {
  const clusters = resources.clusters.map(
    (cluster) => `cluster ${cluster.name} (capacity providers ${cluster.capacityProviders.join(', ') || 'none'})`,
  );
  const taskDefinitions = resources.taskDefinitions.map(
    (definition) => `task definition ${definition.family} (container ${definition.container})`,
  );
  return `AWS resources in moto: ${[...clusters, ...taskDefinitions].join(', ')}, ${resources.vpcId} with DNS hostnames, ${resources.subnetId}, ${resources.securityGroupId}`;
}

export function queuedLine(jobId: number, labels: string[], fleet: string): string {
  return `1. job ${jobId} queued (labels ${labels.join(', ')}) → fleet ${fleet}`;
}

/** `placement`: the capacity provider the app asked for, or the task's launch type when it asked for none. */
export function launchedLine(task: Task, cluster: string, placement: string): string {
  const tags = (task.tags ?? [])
    .filter((tag) => tag.key?.startsWith('fleetbot:'))
    .map((tag) => `${tag.key}=${tag.value}`)
    .join(', ');
  return `2. ECS task ${task.taskArn} launched in cluster ${cluster} (${placement}), tags ${tags}`;
}

export function credentialLine(parameterName: string, type: string, source: string): string {
  return `3. runner credential in SSM: ${parameterName} (${type}, ${source})`;
}

export function completedLine(jobId: number, task: Task): string {
  const reason = task.stoppedReason ? `, reason "${task.stoppedReason}"` : '';
  return `4. job ${jobId} completed → task stopped (${task.lastStatus}${reason}), credential deleted`;
}

export interface Summary {
  jobs: number;
  webhooks: number;
  launched: number;
  stopped: number;
  credentialsLeft: number;
  firstLaunchSeconds: number | undefined;
  elapsedSeconds: number;
}

export function summaryLine(summary: Summary): string {
  const first = summary.firstLaunchSeconds === undefined ? '' : `, first task launched ${seconds(summary.firstLaunchSeconds)} after start`;
  return (
    `Summary: ${summary.jobs} jobs sent (${summary.webhooks} signed webhooks), ${summary.launched} tasks launched, ` +
    `${summary.stopped} stopped, ${summary.credentialsLeft} credentials left in SSM${first}; ${seconds(summary.elapsedSeconds)} in all`
  );
}

export function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}
