import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type { JobOrigin, JobRecord, NewJob, RunnerRecord } from '../store/types.js';

/** Where jobs come from. A source turns its system's events into these and answers the scheduler's questions. */

export interface JobQueued {
  kind: 'queued';
  job: NewJob;
}

export interface JobCompleted {
  kind: 'completed';
  ci: CiSystem;
  jobId: string;
  /** The runner that ran the job, which need not be the one launched for it; absent if none ran it. */
  runnerName?: string;
}

export type JobEvent = JobQueued | JobCompleted;

export interface RunnerCredential {
  /** What the runner reads from its SSM parameter. */
  value: string;
  /** The CI system's id for the runner, when registering it tells us one. */
  ciRunnerId?: string;
}

/** A self-hosted runner as the CI system lists it. */
export interface RegisteredRunner {
  /** The CI system's id for it, unique within its scope. */
  id: string;
  name: string;
  /** Connected to the CI system now. */
  online: boolean;
  /** Running a job now: such a runner is never touched. */
  busy: boolean;
}

export interface CiSource {
  readonly ci: CiSystem;
  /** A credential for exactly one runner, for the fleet's labels and group. */
  createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential>;
  /** Whether the job still waits for a runner; asked before a backlog job is launched. */
  isJobQueued(job: JobRecord): Promise<boolean>;
  /** Credential requests with the same lane are made one at a time (one lane per API rate-limit scope). */
  credentialLane(job: JobRecord): string;
  /**
   * Where the job's runner registers (an organisation, a repository): jobs with the same scope share
   * one listing. Sources whose runners never outlive their compute leave out these three.
   */
  runnerScope?(job: Pick<JobRecord, 'ci' | 'origin'>): string;
  /** The runners registered in the job's scope. */
  listRegisteredRunners?(job: JobRecord): Promise<RegisteredRunner[]>;
  /** Unregisters a runner of the job's scope; `busy` when the CI system refuses because it runs a job. A runner already gone counts as deleted. */
  deleteRegisteredRunner?(job: JobRecord, runnerId: string): Promise<'deleted' | 'busy'>;
  /** Where the fleet's warm runners register (the origin of their placeholder jobs). */
  warmPoolOrigin?(fleet: FleetSpec): Promise<JobOrigin>;
}

/** A job source without webhooks polls its CI system; the app starts it with itself and stops it on stop(). */
export interface JobPoller {
  /** Polls now and then every `intervalMs`, never two passes at once. */
  start(intervalMs: number): void;
  /** Stops polling and waits for a pass under way. */
  stop(): Promise<void>;
  /** One pass now (joined if one is under way). */
  pass(): Promise<unknown>;
}
