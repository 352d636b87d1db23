import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type { JobOrigin, JobRecord, RunnerRecord } from '../store/types.js';
import type { CiSource, RegisteredRunner, RunnerCredential } from './types.js';

/** What the scheduler asks of the CI systems: the same questions as of one source, answered by the job's. */
export interface CiCalls {
  createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential>;
  isJobQueued(job: JobRecord): Promise<boolean>;
  credentialLane(job: JobRecord): string;
  runnerScope?(job: Pick<JobRecord, 'ci' | 'origin'>): string | undefined;
  warmPoolOrigin?(fleet: FleetSpec): Promise<JobOrigin>;
}

/** Hands each call to the source of the job's CI system (GitHub, GitLab, CircleCI). */
export class CiRouter implements CiCalls {
  private readonly sources: ReadonlyMap<CiSystem, CiSource>;

  constructor(sources: readonly CiSource[]) {
    this.sources = new Map(sources.map((source) => [source.ci, source]));
  }

  async createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential> {
    return this.sourceFor(job.ci).createRunnerCredential(job, runner, fleet);
  }

  async isJobQueued(job: JobRecord): Promise<boolean> {
    return this.sourceFor(job.ci).isJobQueued(job);
  }

  credentialLane(job: JobRecord): string {
    return this.sourceFor(job.ci).credentialLane(job);
  }

  /** Undefined for a job whose source cannot list its runners. */
  runnerScope(job: Pick<JobRecord, 'ci' | 'origin'>): string | undefined {
    const source = this.sources.get(job.ci);
    return source?.runnerScope && `${job.ci}:${source.runnerScope(job)}`;
  }

  async listRegisteredRunners(job: JobRecord): Promise<RegisteredRunner[]> {
    return (await this.sourceFor(job.ci).listRegisteredRunners?.(job)) ?? [];
  }

  async warmPoolOrigin(fleet: FleetSpec): Promise<JobOrigin> {
    const source = this.sourceFor(fleet.ci);
    if (!source.warmPoolOrigin) throw new Error(`${fleet.ci} fleets have no warm pools`);
    return source.warmPoolOrigin(fleet);
  }

  async deleteRegisteredRunner(job: JobRecord, runnerId: string): Promise<'deleted' | 'busy'> {
    const source = this.sourceFor(job.ci);
    if (!source.deleteRegisteredRunner) throw new Error(`${job.ci} runners cannot be unregistered`);
    return source.deleteRegisteredRunner(job, runnerId);
  }

  private sourceFor(ci: CiSystem): CiSource {
    const source = this.sources.get(ci);
    if (!source) throw new Error(`no job source is configured for ${ci}`);
    return source;
  }
}
