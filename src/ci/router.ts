import type { FleetSpec } from '../fleets/spec.js';
import type { JobRecord, RunnerRecord } from '../store/types.js';
import type { CiSource, RunnerCredential } from './types.js';

/** What the scheduler asks of the CI systems: the same questions as of one source, answered by the job's. */
export type CiCalls = Omit<CiSource, 'provider'>;

/** Hands each call to the source of the job's provider (GitHub, GitLab, CircleCI). */
export class CiRouter implements CiCalls {
  private readonly sources: ReadonlyMap<string, CiSource>;

  constructor(sources: readonly CiSource[]) {
    this.sources = new Map(sources.map((source) => [source.provider, source]));
  }

  async createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential> {
    return this.sourceFor(job.provider).createRunnerCredential(job, runner, fleet);
  }

  async isJobQueued(job: JobRecord): Promise<boolean> {
    return this.sourceFor(job.provider).isJobQueued(job);
  }

  credentialLane(job: JobRecord): string {
    return this.sourceFor(job.provider).credentialLane(job);
  }

  private sourceFor(provider: string): CiSource {
    const source = this.sources.get(provider);
    if (!source) throw new Error(`no job source is configured for ${provider}`);
    return source;
  }
}
