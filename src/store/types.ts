/**
 * Where state lives. Every method that changes capacity is one atomic operation, so that concurrent
 * webhooks (or several app processes sharing one store) can never put a fleet over its maximum.
 */

/** Provider-specific facts about where a job came from, kept as the CI source wrote them. */
export type JobOrigin = Record<string, unknown>;

export type JobStatus =
  | 'waiting' // in its fleet's FIFO backlog
  | 'launching' // a runner was claimed for it and is being started
  | 'launched' // its runner was started
  | 'completed' // the CI system reported it finished (or cancelled)
  | 'abandoned' // no longer queued at the CI system when its turn came
  | 'unmatched'; // no fleet serves its labels

export interface JobRecord {
  provider: string;
  jobId: string;
  fleet: string | null;
  status: JobStatus;
  labels: string[];
  origin: JobOrigin;
  /** The runner most recently started for this job. */
  runnerName: string | null;
  launchAttempts: number;
  receivedAt: number;
  updatedAt: number;
}

export type RunnerStatus = 'launching' | 'running' | 'released';

export interface RunnerRecord {
  name: string;
  fleet: string;
  provider: string;
  /** The job whose arrival started this runner (the runner may end up running another one). */
  jobId: string;
  status: RunnerStatus;
  /** The compute backend's id for it (ECS task ARN), once launched. */
  computeId: string | null;
  /** Which capacity it landed on (capacity provider, launch type). */
  computeDetail: string | null;
  credentialIssued: boolean;
  /** The CI system's id for the registered runner, where it tells us one. */
  ciRunnerId: string | null;
  releasedReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewJob {
  provider: string;
  jobId: string;
  labels: string[];
  origin: JobOrigin;
}

export interface FleetLimit {
  name: string;
  maxRunners: number;
}

export type Admission =
  | { kind: 'duplicate'; job: JobRecord }
  | { kind: 'unmatched'; job: JobRecord }
  | { kind: 'claimed'; job: JobRecord; runner: RunnerRecord }
  /** `fleetFull` false means older jobs wait while a slot is free: the backlog wants draining. */
  | { kind: 'waiting'; job: JobRecord; position: number; fleetFull: boolean };

export interface Claim {
  job: JobRecord;
  runner: RunnerRecord;
}

export interface Completion {
  /** The job as it was before this completion, if it was known. */
  job?: JobRecord;
  /** The runner named by the completion, if it was active until now. */
  releasedRunner?: RunnerRecord;
}

export interface FleetCounts {
  active: number;
  waiting: number;
}

export interface Store {
  /**
   * Records a job once (a redelivery is a `duplicate`), then either claims a runner slot for it under
   * the fleet's limit or puts it at the end of the fleet's backlog. `fleet` undefined records it unmatched.
   */
  admitJob(job: NewJob, fleet: FleetLimit | undefined, runnerName: string, now: number): Promise<Admission>;
  /** Claims a slot for the oldest waiting job of the fleet, if the fleet is under its limit. */
  claimNextWaiting(fleet: FleetLimit, runnerNameFor: (job: JobRecord) => string, now: number): Promise<Claim | undefined>;
  markRunnerLaunched(name: string, computeId: string, computeDetail: string, now: number): Promise<void>;
  markCredentialIssued(name: string, ciRunnerId: string | null, now: number): Promise<void>;
  /**
   * Frees an active runner's slot. With `requeueJob`, its job (unless finished) goes back into the
   * backlog at its original place. Returns the runner as it was, or undefined if it was not active.
   */
  releaseRunner(name: string, reason: string, options: { requeueJob: boolean }, now: number): Promise<RunnerRecord | undefined>;
  /** A claimed job turned out to be no longer queued: free the slot and close the job. */
  abandonClaim(claim: Claim, reason: string, now: number): Promise<void>;
  /** The CI system says the job finished; frees the runner that ran it (by name), drops it from the backlog. */
  completeJob(provider: string, jobId: string, runnerName: string | undefined, now: number): Promise<Completion>;
  getJob(provider: string, jobId: string): Promise<JobRecord | undefined>;
  getRunner(name: string): Promise<RunnerRecord | undefined>;
  /** Runners in `launching` or `running`. */
  activeRunners(): Promise<RunnerRecord[]>;
  fleetCounts(): Promise<Map<string, FleetCounts>>;
  close(): Promise<void>;
}
