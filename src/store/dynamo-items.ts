import { createHash } from 'node:crypto';
import type { CiSystem } from '../fleets/spec.js';
import type { Deferral, JobRecord, JobStatus, NewJob, RunnerRecord } from './types.js';

/**
 * The DynamoDB store's items, and how records map to them (keys in dynamo-table.ts). A job or runner item
 * is the record plus what the store needs: a `version` every write checks and bumps (optimistic
 * concurrency), the index keys its status puts it under, and `expiresAt` once it is finished.
 *
 * | item            | pk                    | sk         | gsi1 (pk / sk)              | gsi2 (pk / sk)           |
 * | --------------- | --------------------- | ---------- | --------------------------- | ------------------------ |
 * | job             | JOB#<ci>#<jobId>      | JOB        | INFLIGHT / order (launching, launched) | JOBS / order  |
 * | backlog entry   | BACKLOG#<fleet>       | order      | -                           | -                        |
 * | runner          | RUNNER#<name>         | RUNNER     | ACTIVE (RELEASED) / createdAt#name | WARM#<fleet> / createdAt#name (idle warm) |
 * | fleet counter   | FLEET#<fleet>         | COUNTS     | -                           | FLEETS / fleet           |
 * | job origin      | ORIGIN#<hash>         | ORIGIN     | -                           | ORIGINS / receivedAt     |
 * | drained fleet   | DRAINED               | <fleet>    | -                           | -                        |
 * | task pass       | TASKPASS              | <task>     | -                           | -                        |
 *
 * A runner is under ACTIVE in gsi1 while launching or running, under RELEASED after. Every job is under JOBS
 * in gsi2, by arrival: the operator's listings read those partitions newest first (dynamo-operator.ts).
 * The backlog lives in the table itself, not in an index, so that a claim reads it strongly consistent.
 */

/** A job as stored: the record, where it stands in the backlog, and its unchecked state. */
export interface JobItem extends JobRecord {
  /** Its place in any fleet's backlog: arrival time, then arrival sequence, then its key (unique). */
  order: string;
  uncheckedSince: number | null;
  uncheckedReported: boolean;
  version: number;
}

export interface RunnerItem extends RunnerRecord {
  version: number;
}

/** A fleet's runner and backlog counts, which every capacity transaction updates and conditions on. */
export interface FleetCounter {
  fleet: string;
  active: number;
  /** Backlog entries; `checked` of them are not unchecked (a newcomer waits behind those only). */
  waiting: number;
  checked: number;
}

export interface BacklogEntry {
  fleet: string;
  order: string;
  ci: CiSystem;
  jobId: string;
  unchecked: boolean;
}

export type Key = { pk: string; sk: string };

const FINISHED: readonly JobStatus[] = ['completed', 'abandoned', 'unmatched'];
const IN_FLIGHT: readonly JobStatus[] = ['launching', 'launched'];

export const jobKey = (ci: string, jobId: string): Key => ({ pk: `JOB#${ci}#${jobId}`, sk: 'JOB' });
export const runnerKey = (name: string): Key => ({ pk: `RUNNER#${name}`, sk: 'RUNNER' });
export const counterKey = (fleet: string): Key => ({ pk: `FLEET#${fleet}`, sk: 'COUNTS' });
export const backlogKey = (fleet: string, order: string): Key => ({ pk: `BACKLOG#${fleet}`, sk: order });
export const backlogPartition = (fleet: string): string => `BACKLOG#${fleet}`;
export const INDEX = {
  inFlightJobs: { name: 'gsi1', partition: 'INFLIGHT' },
  activeRunners: { name: 'gsi1', partition: 'ACTIVE' },
  releasedRunners: { name: 'gsi1', partition: 'RELEASED' },
  /** Every job, in arrival order (`order` starts with the receipt time): the operator's listing, newest first. */
  jobs: { name: 'gsi2', partition: 'JOBS' },
  warmRunners: { name: 'gsi2', partition: (fleet: string) => `WARM#${fleet}` },
  fleets: { name: 'gsi2', partition: 'FLEETS' },
  origins: { name: 'gsi2', partition: 'ORIGINS' },
} as const;

/** Epoch milliseconds as a fixed-width string, so that string order is time order (to the year 5138). */
export const timeKey = (ms: number): string => String(Math.max(0, Math.trunc(ms))).padStart(14, '0');

export function backlogOrder(receivedAt: number, sequence: number, ci: string, jobId: string): string {
  return `${timeKey(receivedAt)}#${String(sequence).padStart(10, '0')}#${ci}#${jobId}`;
}

/** Epoch seconds (DynamoDB's TTL unit) at which a record that finished at `at` may be deleted. */
const expiry = (at: number, retentionMs: number): number => Math.ceil((at + retentionMs) / 1000);

export function jobToItem(job: JobItem, retentionMs: number): Record<string, unknown> {
  const inFlight = IN_FLIGHT.includes(job.status);
  return {
    ...jobKey(job.ci, job.jobId),
    ...job,
    ...(inFlight ? { gsi1pk: INDEX.inFlightJobs.partition, gsi1sk: job.order } : {}),
    gsi2pk: INDEX.jobs.partition,
    gsi2sk: job.order,
    ...(FINISHED.includes(job.status) ? { expiresAt: expiry(job.updatedAt, retentionMs) } : {}),
  };
}

/** The timeline fields a job item written before fleetbot kept them lacks: they read as null. */
const JOB_TIMELINE = { queuedAt: null, claimedAt: null, launchRequestedAt: null, launchedAt: null, completedAt: null };
const RUNNER_COSTS = { launchedAt: null, releasedAt: null, hourlyPriceDollars: null, spot: null };

export function itemToJob(item: Record<string, unknown>): JobItem {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g1s, gsi2pk: _g2, gsi2sk: _g2s, expiresAt: _expires, ...job } = item;
  return { ...JOB_TIMELINE, ...job } as unknown as JobItem;
}

export function runnerToItem(runner: RunnerItem, retentionMs: number): Record<string, unknown> {
  const active = runner.status !== 'released';
  const sortKey = `${timeKey(runner.createdAt)}#${runner.name}`;
  return {
    ...runnerKey(runner.name),
    ...runner,
    gsi1pk: active ? INDEX.activeRunners.partition : INDEX.releasedRunners.partition,
    gsi1sk: sortKey,
    ...(active && runner.warm ? { gsi2pk: INDEX.warmRunners.partition(runner.fleet), gsi2sk: sortKey } : {}),
    ...(active ? {} : { expiresAt: expiry(runner.updatedAt, retentionMs) }),
  };
}

export function itemToRunner(item: Record<string, unknown>): RunnerItem {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g1s, gsi2pk: _g2, gsi2sk: _g2s, expiresAt: _expires, ...runner } = item;
  return { ...RUNNER_COSTS, ...runner } as unknown as RunnerItem;
}

/** The record callers see: the item without the store's own fields. */
export function publicJob(job: JobItem): JobRecord {
  const { order: _order, uncheckedSince: _since, uncheckedReported: _reported, version: _version, ...record } = job;
  return record;
}

export function publicRunner(runner: RunnerItem): RunnerRecord {
  const { version: _version, ...record } = runner;
  return record;
}

/** The job's backlog entry, if it is waiting. */
export function backlogEntryOf(job: JobItem): BacklogEntry | undefined {
  if (job.status !== 'waiting' || job.fleet === null) return undefined;
  return { fleet: job.fleet, order: job.order, ci: job.ci, jobId: job.jobId, unchecked: job.uncheckedSince !== null };
}

/**
 * A job's CI system and origin as one string. Keys sorted: DynamoDB keeps a map's entries in no order,
 * so a record read back may list them differently from the one written.
 */
export function originPlace(job: Pick<JobRecord, 'ci' | 'origin'>): string {
  const canonical = (value: unknown): unknown =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, inner]) => [name, canonical(inner)]),
        )
      : value;
  return createHash('sha256')
    .update(JSON.stringify([job.ci, canonical(job.origin)]))
    .digest('hex');
}

/** Where jobs came from, one item per CI system and origin: the runner sweep's scopes, without a scan. */
export function originItem(job: JobRecord, retentionMs: number): Record<string, unknown> {
  return {
    pk: `ORIGIN#${originPlace(job)}`,
    sk: 'ORIGIN',
    ci: job.ci,
    jobId: job.jobId,
    receivedAt: job.receivedAt,
    gsi2pk: INDEX.origins.partition,
    gsi2sk: timeKey(job.receivedAt),
    expiresAt: expiry(job.receivedAt, retentionMs),
  };
}

/** A job as first recorded; `sequence` orders the jobs one process records in the same millisecond. */
export function newJobItem(job: NewJob, fleet: string | null, status: JobStatus, now: number, sequence: number): Omit<JobItem, 'version'> {
  const { ci, jobId, labels, origin } = job;
  return {
    ...{ ci, jobId, fleet, status, labels, origin, runnerName: null, launchAttempts: 0, receivedAt: now, startedAt: null },
    ...{ ...JOB_TIMELINE, queuedAt: job.queuedAt ?? null },
    ...{ updatedAt: now, order: backlogOrder(now, sequence, ci, jobId), uncheckedSince: null, uncheckedReported: false },
  };
}

/** A runner claimed for a job of a fleet: launching. */
export function newRunnerItem(
  name: string,
  job: Pick<JobItem, 'fleet' | 'ci' | 'jobId'>,
  warm: boolean,
  now: number,
): Omit<RunnerItem, 'version'> {
  const { ci, jobId } = job;
  return {
    ...{ name, fleet: job.fleet!, ci, jobId, status: 'launching', computeId: null, computeDetail: null, credentialIssued: false },
    ...{ ciRunnerId: null, releasedReason: null, warm, ...RUNNER_COSTS, createdAt: now, updatedAt: now },
  };
}

/** A claimed job's check failed again: since when its checks fail, and whether to say so now (once). */
export function nextDeferral(job: JobItem, reportAfterMs: number, now: number): Deferral {
  const uncheckedSince = job.uncheckedSince ?? now;
  return { uncheckedSince, report: !job.uncheckedReported && now - uncheckedSince > reportAfterMs };
}
