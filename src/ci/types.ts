import type { FleetSpec } from '../fleets/spec.js';
import type { JobRecord, NewJob, RunnerRecord } from '../store/types.js';

/** Where jobs come from. A source turns its system's events into these and answers the scheduler's questions. */

export interface JobQueued {
  kind: 'queued';
  job: NewJob;
}

export interface JobCompleted {
  kind: 'completed';
  provider: string;
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

export interface CiSource {
  readonly provider: string;
  /** A credential for exactly one runner, for the fleet's labels and group. */
  createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential>;
  /** Whether the job still waits for a runner; asked before a backlog job is launched. */
  isJobQueued(job: JobRecord): Promise<boolean>;
  /** Credential requests with the same lane are made one at a time (one lane per API rate-limit scope). */
  credentialLane(job: JobRecord): string;
}
