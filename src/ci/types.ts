import type { ApplicationFunctionOptions, Logger, Probot } from 'probot';
import type { DeliveryQueue, VerifiedDelivery } from '../deliveries.js';
import type { FleetRegistry } from '../fleets/registry.js';
import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type { Admission, JobOrigin, JobRecord, NewJob, RunnerRecord, Store } from '../store/types.js';
import type { ReplicaLeases } from '../lease-keeper.js';

/**
 * Where jobs come from. Each CI system is one connector (`CiConnector`): a source that answers the
 * scheduler's questions, and an intake that turns what the system says into job events for a `JobSink`.
 */

/** A runner took the job. */
export interface JobStarted {
  ci: CiSystem;
  jobId: string;
  /** The runner the CI system gave the job, which need not be the one launched for it. */
  runnerName?: string;
  /** When the runner took it, as the CI system says (epoch ms); absent means when fleetbot heard of it. */
  startedAt?: number;
  /** When the job was queued at the CI system, where the event says (epoch ms). */
  queuedAt?: number;
}

export interface JobCompleted {
  ci: CiSystem;
  jobId: string;
  /** The runner that ran the job, which need not be the one launched for it; absent if none ran it. */
  runnerName?: string;
  /** Where the job ran, where the event says: only a runner registered there may be freed by it. */
  origin?: JobOrigin;
  /** How it ended, where the event says (GitHub's `conclusion`, GitLab's status): for the metrics. */
  conclusion?: JobConclusion;
}

export type JobConclusion = 'success' | 'failure' | 'cancelled';

export type JobEvent = { kind: 'queued'; job: NewJob } | ({ kind: 'started' } & JobStarted) | ({ kind: 'completed' } & JobCompleted);

/** The delivery an event came in, so that every log line it causes can be found by its id. */
export interface Delivery {
  /** GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID; absent for polled events. */
  deliveryId?: string;
}

/**
 * What every CI source feeds. In-process it is the scheduler; in the scale-out deployment it is a
 * queue whose consumers feed the scheduler.
 */
export interface JobSink {
  /** A job waits for a runner: recorded once, then launched for or put in its fleet's backlog. */
  jobQueued(job: NewJob, delivery?: Delivery): Promise<Admission>;
  /** A runner took the job: its start is recorded, and its wait logged. */
  jobStarted(started: JobStarted, delivery?: Delivery): Promise<void>;
  /** The job finished or was cancelled: its runner is freed. */
  jobCompleted(completed: JobCompleted, delivery?: Delivery): Promise<void>;
}

/** What a polling source needs besides: demand is read afresh each pass, so older backlog jobs go first. */
export interface FleetBacklogs {
  drainFleet(fleet: FleetSpec): Promise<number>;
}

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
  /**
   * Unregisters a runner of the job's scope; `busy` when the CI system refuses because it runs a job.
   * A runner already gone counts as deleted.
   */
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

/** How a CI system hears of jobs once wired; webhook intakes need no start, pollers do. */
export interface JobIntake {
  /** Starts periodic work (polls), if the intake has any. */
  start?(): void;
  /** One pass now (a poll), joined if one is under way. */
  pass?(): Promise<unknown>;
  /**
   * The name of its periodic work (and of that work's lease), when it is configured to have some: a
   * scheduled Lambda invocation (`tick`) runs `pass()` for each intake that names one.
   */
  periodicTask?: string;
  /** Resolves when no work the intake started is under way. */
  idle?(): Promise<void>;
  /** Stops hearing of jobs and waits for work under way. */
  stop?(): Promise<void>;
  /**
   * Handles a delivery of this CI system that a queue consumer took: verified at the door, it reaches
   * the handlers an unqueued one reaches. Throws when it should be delivered again.
   */
  replay?(delivery: VerifiedDelivery): Promise<void>;
}

/** What the app gives each CI system when it loads into Probot. */
export interface CiHost {
  probot: Probot;
  /** Adds a route to Probot's HTTP server (a webhook other than GitHub's). */
  addHandler: ApplicationFunctionOptions['addHandler'];
  fleets: FleetRegistry;
  store: Store;
  log: Logger;
  /** This replica's leases: a CI system's periodic work (polls, recovery) runs under the lease of its name. */
  leases?: ReplicaLeases;
  /** With a queue (FLEETBOT_QUEUE_URL), webhook routes verify deliveries and queue them instead of handling them. */
  queue?: DeliveryQueue;
}

/** A CI system wired into the app: its source, and how it starts hearing of jobs once the sink exists. */
export interface CiConnection {
  source: CiSource;
  listen(sink: JobSink & FleetBacklogs): JobIntake;
}

/** One CI system, as the wiring lists it: `src/assemble.ts` has one line per system. */
export type CiConnector = (host: CiHost) => CiConnection;
