import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { CiSystem, CircleCiSettings, FleetSpec } from '../fleets/spec.js';
import type { SecretReader } from '../secrets/types.js';
import type { JobRecord, NewJob, RunnerRecord } from '../store/types.js';
import type { CiSource, RunnerCredential } from './types.js';

export const CIRCLECI: CiSystem = 'circleci';

/** Where a CircleCI demand job came from: the resource class whose queue asked for a runner. */
const circleCiOriginSchema = z.object({ resourceClass: z.string(), url: z.string() });
export type CircleCiOrigin = z.infer<typeof circleCiOriginSchema>;

/**
 * One runner's worth of a resource class's unclaimed tasks, as a job for the scheduler. CircleCI
 * names no task until an agent claims it, so each launch gets an id of its own (a UUID: it becomes part
 * of the runner's name, which must suit CircleCI runner names and SSM parameter names alike), and the
 * resource class is the job's only label, which picks its fleet.
 */
export function demandJob(settings: CircleCiSettings): NewJob {
  const origin: CircleCiOrigin = { resourceClass: settings.resourceClass, url: settings.url };
  return { ci: CIRCLECI, jobId: randomUUID(), labels: [settings.resourceClass], origin };
}

/** What the runner reads from its parameter: the agent's settings, the resource class token among them. */
export interface CircleCiRunnerConfig {
  token: string;
  name: string;
  url: string;
  resourceClass: string;
}

/** CircleCI's machine runner as a job source; demand comes from the poller (`circleci-poller.ts`). */
export class CircleCiSource implements CiSource {
  readonly ci = CIRCLECI;

  constructor(private readonly secrets: SecretReader) {}

  /** The resource class token serves every agent of the class; the runner's name ties the agent to its record. */
  async createRunnerCredential(_job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential> {
    const settings = fleet.circleci;
    if (!settings) throw new Error(`fleet ${fleet.name} has no circleci section`);
    const config: CircleCiRunnerConfig = {
      token: await this.secrets.read(settings.runnerTokenParameter),
      name: runner.name,
      url: settings.url,
      resourceClass: settings.resourceClass,
    };
    return { value: JSON.stringify(config) };
  }

  /**
   * Never: demand is read afresh from CircleCI on every poll, so a job put back in the backlog (its
   * runner stopped, or its launch failed) is dropped rather than launched again; the next poll launches
   * for whatever is still unclaimed.
   */
  async isJobQueued(): Promise<boolean> {
    return false;
  }

  /** Reading the token from SSM is the only work; one lane per CircleCI installation keeps the pace even. */
  credentialLane(job: JobRecord): string {
    return `${CIRCLECI}:${circleCiOriginSchema.parse(job.origin).url}`;
  }
}
