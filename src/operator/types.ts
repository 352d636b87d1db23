import type { CiSystem } from '../fleets/spec.js';
import type { JobStatus, RequestKind, RequestStatus, RunnerStatus, TaskPass } from '../store/types.js';

/**
 * What an operator sees of fleetbot: the read model behind the dashboard, the JSON API and the
 * `fleetbot` CLI, one shape for all three so they never disagree. Times are epoch milliseconds.
 */

export type FleetState = 'serving' | 'full' | 'drained' | 'deleting';

export interface FleetOverview {
  name: string;
  ci: CiSystem;
  /** The compute type: ecs, ec2 or asg. */
  compute: string;
  maxRunners: number;
  /** Runners launching or running, warm ones included. */
  active: number;
  /** Of `active`, the warm runners no job has taken yet. */
  warm: number;
  waiting: number;
  drained: boolean;
  state: FleetState;
}

/** When each step of a job happened, null until it has. */
export interface JobTimeline {
  /** The CI system's own queued time. */
  queuedAt: number | null;
  receivedAt: number | null;
  claimedAt: number | null;
  launchRequestedAt: number | null;
  launchedAt: number | null;
  startedAt: number | null;
  completedAt: number | null;
}

export interface JobView {
  ci: CiSystem;
  jobId: string;
  fleet: string | null;
  status: JobStatus;
  labels: string[];
  runnerName: string | null;
  timeline: JobTimeline;
  /** Queued at the CI system → started on a runner. */
  waitSeconds: number | null;
  /** The estimated cost of the runner that ran it, once it was released. */
  costDollars: number | null;
  /** The job on its CI system, when its origin says where. */
  url: string | null;
}

export interface RunnerView {
  name: string;
  fleet: string;
  ci: CiSystem;
  status: RunnerStatus;
  /** The compute type and the capacity it landed on, as the backend said. */
  compute: string;
  computeId: string | null;
  /** Null when the backend did not say. */
  spot: boolean | null;
  warm: boolean;
  ageSeconds: number;
  jobId: string;
  createdAt: number;
}

export interface WaitStats {
  fleet: string;
  count: number;
  p50Seconds: number | null;
  p95Seconds: number | null;
  /** Cumulative counts, with the bounds of the `fleetbot_job_wait_seconds` histogram. */
  buckets: { le: number; count: number }[];
}

export interface FleetCostDay {
  fleet: string;
  /** YYYY-MM-DD, UTC. */
  day: string;
  dollars: number;
}

export interface IssueOpsRequestView {
  repo: string;
  issueNumber: number;
  issueUrl: string;
  prNumber: number | null;
  prUrl: string | null;
  fleet: string | null;
  kind: RequestKind;
  status: RequestStatus;
  updatedAt: number;
}

export interface StatusView {
  fleets: FleetOverview[];
  runners: RunnerView[];
  tasks: TaskPass[];
  generatedAt: number;
}

export interface JobQuery {
  fleet?: string;
  ci?: CiSystem;
  status?: JobStatus;
  since?: number;
  /** Default 200. */
  limit?: number;
}

export interface DrainResult {
  fleet: string;
  drained: boolean;
  changed: boolean;
}

export interface OperatorView {
  status(): Promise<StatusView>;
  fleets(): Promise<FleetOverview[]>;
  /** Active runners. */
  runners(filter?: { fleet?: string }): Promise<RunnerView[]>;
  /** Newest first. */
  jobs(query: JobQuery): Promise<JobView[]>;
  waitStats(since: number): Promise<WaitStats[]>;
  costPerDay(since: number): Promise<FleetCostDay[]>;
  issueOpsRequests(limit?: number): Promise<IssueOpsRequestView[]>;
  /** A drained fleet takes no new runners; its running jobs finish. An unknown fleet throws UnknownFleetError. */
  drain(fleet: string): Promise<DrainResult>;
  undrain(fleet: string): Promise<DrainResult>;
}

export class UnknownFleetError extends Error {
  override name = 'UnknownFleetError';
  constructor(readonly fleet: string) {
    super(`no fleet is named "${fleet}"`);
  }
}
