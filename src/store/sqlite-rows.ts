import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type { JobRow, RunnerRow } from './sqlite-statements.js';
import type { JobRecord, RunnerRecord } from './types.js';

/**
 * Rows as records. Columns a later migration added read as null when absent: the DynamoDB import reads
 * SQLite files of any earlier version as they are.
 */
export function toJob(row: JobRow): JobRecord {
  return {
    ci: row.provider as CiSystem,
    jobId: row.job_id,
    fleet: row.fleet,
    status: row.status,
    labels: JSON.parse(row.labels) as string[],
    origin: JSON.parse(row.origin) as Record<string, unknown>,
    runnerName: row.runner_name,
    launchAttempts: row.launch_attempts,
    receivedAt: row.received_at,
    startedAt: row.started_at,
    queuedAt: row.queued_at ?? null,
    claimedAt: row.claimed_at ?? null,
    launchRequestedAt: row.launch_requested_at ?? null,
    launchedAt: row.launched_at ?? null,
    completedAt: row.completed_at ?? null,
    updatedAt: row.updated_at,
  };
}

export function toRunner(row: RunnerRow): RunnerRecord {
  return {
    name: row.name,
    fleet: row.fleet,
    ci: row.provider as CiSystem,
    jobId: row.job_id,
    status: row.status,
    computeId: row.compute_id,
    computeDetail: row.compute_detail,
    credentialIssued: row.credential_issued === 1,
    ciRunnerId: row.ci_runner_id,
    releasedReason: row.released_reason,
    warm: row.warm === 1,
    launchSpec: row.launch_spec === null ? null : (JSON.parse(row.launch_spec) as FleetSpec),
    launchedAt: row.launched_at ?? null,
    releasedAt: row.released_at ?? null,
    hourlyPriceDollars: row.hourly_price_dollars ?? null,
    spot: row.spot === null || row.spot === undefined ? null : row.spot === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
