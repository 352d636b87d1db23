import type { FleetSpec } from '../fleets/spec.js';
import type { JobOrigin, JobRecord, RunnerRecord } from '../store/types.js';
import type { CiSource, RegisteredRunner, RunnerCredential } from './types.js';

/** What the scheduler asks of the CI systems: the same questions as of one source, answered by the job's. */
export interface CiCalls {
  createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential>;
  isJobQueued(job: JobRecord): Promise<boolean>;
  credentialLane(job: JobRecord): string;
  runnerScope?(job: Pick<JobRecord, 'provider' | 'origin'>): string | undefined;
  warmPoolOrigin?(fleet: FleetSpec): Promise<JobOrigin>;
}

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

  /** Undefined for a job whose source cannot list its runners. */
  runnerScope(job: Pick<JobRecord, 'provider' | 'origin'>): string | undefined {
    const source = this.sources.get(job.provider);
    return source?.runnerScope && `${job.provider}:${source.runnerScope(job)}`;
  }

  async listRegisteredRunners(job: JobRecord): Promise<RegisteredRunner[]> {
    return (await this.sourceFor(job.provider).listRegisteredRunners?.(job)) ?? [];
  }

  async warmPoolOrigin(fleet: FleetSpec): Promise<JobOrigin> {
    const source = this.sourceFor(fleet.ci);
    if (!source.warmPoolOrigin) throw new Error(`${fleet.ci} fleets have no warm pools`);
    return source.warmPoolOrigin(fleet);
  }

  async deleteRegisteredRunner(job: JobRecord, runnerId: string): Promise<'deleted' | 'busy'> {
    const source = this.sourceFor(job.provider);
    if (!source.deleteRegisteredRunner) throw new Error(`${job.provider} runners cannot be unregistered`);
    return source.deleteRegisteredRunner(job, runnerId);
  }

  private sourceFor(provider: string): CiSource {
    const source = this.sources.get(provider);
    if (!source) throw new Error(`no job source is configured for ${provider}`);
    return source;
  }
}
