import type { Task } from '@aws-sdk/client-ecs';
import { TAG_JOB } from '../src/compute/types.js';
import { RunnerSecrets } from '../src/secrets/ssm.js';
import { clientsFor, fleetbotTasks, readParameter, tagOf } from '../test/helpers/aws-fixture.js';
import type { FakeGitHub } from '../test/helpers/fake-github.js';
import type { Moto } from '../test/helpers/moto.js';

/** What the sandbox reads back from the systems themselves (moto's APIs, the fake GitHub's records), never from the app. */

/** Every task fleetbot started in these clusters, running or stopped. */
export async function allTasks(moto: Moto, clusters: string[]): Promise<Task[]> {
  return (await Promise.all(clusters.map((cluster) => fleetbotTasks(moto, cluster)))).flat();
}

export async function taskForJob(moto: Moto, cluster: string, jobId: number): Promise<Task | undefined> {
  return (await fleetbotTasks(moto, cluster)).find((task) => tagOf(task, TAG_JOB) === String(jobId));
}

export async function stoppedTask(moto: Moto, cluster: string, taskArn: string): Promise<Task | undefined> {
  return (await fleetbotTasks(moto, cluster)).find((task) => task.taskArn === taskArn && task.lastStatus === 'STOPPED');
}

/** The credential's type and where the fake GitHub issued it; its value is compared, never returned. */
export async function credentialIn(moto: Moto, github: FakeGitHub, parameterName: string, runnerName: string) {
  const parameter = await readParameter(moto, parameterName);
  if (!parameter?.Value) return undefined;
  return { type: parameter.Type ?? 'unknown type', source: issuedBy(github, parameter.Value, runnerName) };
}

export async function credentialGone(moto: Moto, parameterName: string): Promise<boolean> {
  return (await readParameter(moto, parameterName)) === undefined;
}

export async function credentialsLeft(moto: Moto): Promise<number> {
  return (await new RunnerSecrets(clientsFor(moto).ssm).listRunnerParameters()).length;
}

function issuedBy(github: FakeGitHub, value: string, runnerName: string): string {
  if (github.issuedJitConfigs.includes(value)) {
    const request = github
      .requestsTo('POST', /\/actions\/runners\/generate-jitconfig$/)
      .find((candidate) => (candidate.body as { name?: string } | undefined)?.name === runnerName);
    return `JIT config from ${request ? `POST ${request.path}` : 'generate-jitconfig'}`;
  }
  const token = github.issuedRegistrationTokens.find((candidate) => value.includes(candidate));
  if (token) return 'runner configuration with a registration token from POST …/actions/runners/registration-token';
  throw new Error(`the credential in SSM for ${runnerName} is not one the GitHub stand-in issued`);
}
