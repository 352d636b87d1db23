import { TAG_FLEET, TAG_RUNNER } from '../src/compute/types.js';
import type { EcsCompute, FleetSpec } from '../src/fleets/spec.js';
import { runnerParameterName } from '../src/secrets/ssm.js';
import { tagOf } from '../test/helpers/aws-fixture.js';
import { eventually, sign, type AppProcess } from '../test/helpers/app-process.js';
import type { FakeGitHub } from '../test/helpers/fake-github.js';
import type { Moto } from '../test/helpers/moto.js';
import { completedJob, queuedJob } from '../test/helpers/payloads.js';
import type { FargateShim } from './fargate-shim.js';
import { completedLine, credentialLine, launchedLine, queuedLine } from './narrate.js';
import { credentialGone, credentialIn, stoppedTask, taskForJob } from './observe.js';

/** What the jobs run against. */
export interface Stage {
  moto: Moto;
  github: FakeGitHub;
  shim: FargateShim;
  app: AppProcess;
  webhookSecret: string;
  say: (line: string) => void;
}

/** The organisation the jobs' repository belongs to: runners are registered there, as in an org install. */
export const ORG = 'acme';

// Generous for a loaded 2-core machine: each step takes well under a second when it is idle.
const STEP_TIMEOUT_MS = 20_000;

/**
 * One job through its whole life, each step read back from moto or the fake GitHub before it is printed:
 * the queued webhook → an ECS task and its credential in SSM → the completed webhook → the task stopped and
 * the credential deleted. Resolves with when the task was seen launched (performance.now()).
 */
export async function runJob(stage: Stage, fleet: FleetSpec, jobId: number): Promise<{ launchedAt: number }> {
  const { moto, github, shim, say } = stage;
  const { cluster } = fleet.compute as EcsCompute;

  await deliver(stage, queuedJob({ jobId, labels: fleet.labels, org: ORG }));
  const task = await eventually(`an ECS task for job ${jobId}`, () => taskForJob(moto, cluster, jobId), STEP_TIMEOUT_MS);
  const launchedAt = performance.now();
  const runnerName = tagOf(task, TAG_RUNNER)!;
  say(queuedLine(jobId, fleet.labels, tagOf(task, TAG_FLEET) ?? '(untagged)'));
  say(launchedLine(task, cluster, placementOf(shim, runnerName, task.launchType)));

  const parameterName = runnerParameterName(fleet.name, runnerName);
  const credential = await eventually(
    `the credential ${parameterName}`,
    () => credentialIn(moto, github, parameterName, runnerName),
    STEP_TIMEOUT_MS,
  );
  say(credentialLine(parameterName, credential.type, credential.source));

  // GitHub names the runner that ran the job in the completed event.
  await deliver(stage, completedJob({ jobId, labels: fleet.labels, org: ORG, runnerName }));
  const stopped = await eventually(`task ${task.taskArn} stopped`, () => stoppedTask(moto, cluster, task.taskArn!), STEP_TIMEOUT_MS);
  await eventually(
    `${parameterName} deleted`,
    async () => ((await credentialGone(moto, parameterName)) ? true : undefined),
    STEP_TIMEOUT_MS,
  );
  say(completedLine(jobId, stopped));
  return { launchedAt };
}

/** The capacity provider the app asked RunTask for (as the shim saw it), else the task's launch type. */
export function placementOf(shim: FargateShim, runnerName: string, launchType: string | undefined): string {
  const provider = shim.requestedPlacements.get(runnerName);
  return provider ? `capacity provider ${provider}` : `launch type ${launchType ?? 'unknown'}`;
}

/** Signs and posts a workflow_job webhook as GitHub would; anything but 2xx ends the demo. */
async function deliver(stage: Stage, payload: Record<string, any>): Promise<void> {
  const response = await stage.app.post('workflow_job', payload, sign(JSON.stringify(payload), stage.webhookSecret));
  if (!response.ok) {
    throw new Error(
      `the app answered HTTP ${response.status} to workflow_job.${payload.action} for job ${payload.workflow_job.id}: ${await response.text()}`,
    );
  }
}
