import type { FleetSpec } from '../fleets/spec.js';

/** Where runners run. One implementation per file; the scheduler only sees this interface. */

export interface LaunchRequest {
  runnerName: string;
  /** The job whose arrival caused the launch (tagged for tracing). */
  jobId: string;
  /** The SSM parameter the runner reads its credential from; the only thing it is told. */
  credentialParameter: string;
}

export interface LaunchedRunner {
  computeId: string;
  /** Which capacity took it (capacity provider or launch type), for logs and metrics. */
  computeDetail: string;
  /** For cost estimates (src/cost/): the hourly price seen at launch (an EC2 spot price), and whether the capacity is spot. */
  hourlyPriceDollars?: number;
  spot?: boolean;
}

export type ComputeState = 'starting' | 'running' | 'stopped' | 'missing';

export interface ComputeRunner {
  computeId: string;
  runnerName: string | undefined;
  state: ComputeState;
}

export interface ComputeBackend {
  launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner>;
  /** Stops a runner; one that is already gone is not an error. */
  stop(fleet: FleetSpec, computeId: string, reason: string): Promise<void>;
  /** The state of each given runner; ids the cloud no longer knows come back `missing`. */
  describe(fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>>;
  /** Runners this app started for the fleet that are not stopped, with the runner name from their tags. */
  list(fleet: FleetSpec): Promise<ComputeRunner[]>;
}

/** Tags (and the ECS `startedBy`) that mark everything fleetbot launches. */
export const TAG_FLEET = 'fleetbot:fleet';
export const TAG_JOB = 'fleetbot:job';
export const TAG_RUNNER = 'fleetbot:runner';
export const STARTED_BY = 'fleetbot';

/** The launch failed for lack of capacity everywhere the fleet allows. */
export class CapacityError extends Error {
  override name = 'CapacityError';
}
