import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import type { TaskPass } from '../lease-keeper.js';

/**
 * Where state lives. Every method that changes capacity is one atomic operation, so that concurrent
 * webhooks (or several app processes sharing one store) can never put a fleet over its maximum.
 */

/** CI-system-specific facts about where a job came from, kept as the CI source wrote them. */
export type JobOrigin = Record<string, unknown>;

export type JobStatus =
  | 'waiting' // in its fleet's FIFO backlog
  | 'launching' // a runner was claimed for it and is being started
  | 'launched' // its runner was started
  | 'completed' // the CI system reported it finished (or cancelled)
  | 'abandoned' // no longer queued at the CI system when its turn came
  | 'unmatched'; // no fleet serves its labels

export interface JobRecord {
  ci: CiSystem;
  jobId: string;
  fleet: string | null;
  status: JobStatus;
  labels: string[];
  origin: JobOrigin;
  /** The runner most recently started for this job. */
  runnerName: string | null;
  launchAttempts: number;
  receivedAt: number;
  /** When a runner took it, as the CI system said; null until then. */
  startedAt: number | null;
  /** When the CI system queued it, as it said (null when it did not). The rest of the timeline is fleetbot's own. */
  queuedAt: number | null;
  /** When a runner slot was last claimed for it (a job put back and claimed again shows its latest claim). */
  claimedAt: number | null;
  /** When the compute launch call for its runner was made, and when it returned (the runner's launch, for a warm runner's job). */
  launchRequestedAt: number | null;
  launchedAt: number | null;
  /** When the CI system said it finished (the first time). */
  completedAt: number | null;
  updatedAt: number;
}

/** Names a job. */
export type JobKey = Pick<JobRecord, 'ci' | 'jobId'>;

export type RunnerStatus = 'launching' | 'running' | 'released';

export interface RunnerRecord {
  name: string;
  fleet: string;
  ci: CiSystem;
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
  /** Launched for its fleet's warm pool, and no job given to it yet. */
  warm: boolean;
  /**
   * The fleet's spec as the runner was launched with (set by markRunnerLaunched), so that its task or
   * instance can still be stopped once the fleet is gone from the fleets file. Null (or absent, in a
   * store that does not keep it) for a runner not launched yet, or launched before fleetbot kept it.
   */
  launchSpec?: FleetSpec | null;
  /** When the compute backend said it was started, and when its slot was freed; null until then. */
  launchedAt: number | null;
  releasedAt: number | null;
  /** The hourly price seen at launch (a spot price, for spot capacity), and whether it is spot; null when the backend did not say. */
  hourlyPriceDollars: number | null;
  spot: boolean | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewJob {
  ci: CiSystem;
  jobId: string;
  labels: string[];
  origin: JobOrigin;
  /** When the CI system queued it (epoch ms), where it says. */
  queuedAt?: number;
}

/** What a launch told of the runner, recorded with it (markRunnerLaunched). */
export interface LaunchFacts {
  hourlyPriceDollars?: number;
  spot?: boolean;
  /** When the launch call was made: the job's `launchRequestedAt`, kept in the same write as its launch. */
  requestedAt?: number;
}

/** Which jobs `listJobs` returns: those matching every field given, newest first (by receipt), at most `limit`. */
export interface JobFilter {
  fleet?: string;
  ci?: CiSystem;
  status?: JobStatus;
  /** Received at or after (epoch ms). */
  since?: number;
  limit: number;
}

/** Which runners `listRunners` returns, newest first (by creation), at most `limit`; `active` false: released ones only. */
export interface RunnerFilter {
  fleet?: string;
  active?: boolean;
  limit: number;
}

/** The statuses `countJobsByStatus` counts: the jobs still in play (finished ones are counters' business, not gauges'). */
// A record rather than a list, so that a status added to JobStatus and missing here does not compile.
const JOB_STATUS_NAMES: Record<JobStatus, true> = {
  waiting: true,
  launching: true,
  launched: true,
  completed: true,
  abandoned: true,
  unmatched: true,
};
/** Every job status, for filters that name one (the dashboard, the API, `fleetbot jobs --state`). */
export const JOB_STATUSES = Object.keys(JOB_STATUS_NAMES) as readonly JobStatus[];
export const LIVE_JOB_STATUSES: readonly JobStatus[] = ['waiting', 'launching', 'launched'];

export interface FleetLimit {
  name: string;
  maxRunners: number;
}

export type Admission =
  | { kind: 'duplicate'; job: JobRecord }
  | { kind: 'unmatched'; job: JobRecord }
  | { kind: 'claimed'; job: JobRecord; runner: RunnerRecord }
  /** An idle warm runner of the fleet is the job's: nothing to launch. */
  | { kind: 'pooled'; job: JobRecord; runner: RunnerRecord }
  /** `fleetFull` false means older jobs wait while a slot is free: the backlog wants draining. */
  | { kind: 'waiting'; job: JobRecord; position: number; fleetFull: boolean };

export interface AdmitOptions {
  /** An idle warm runner of the fleet may take the job (it registered where the job's runner would). */
  useWarmRunner?: boolean;
}

export interface Claim {
  job: JobRecord;
  runner: RunnerRecord;
}

/** A waiting job of a fleet no longer configured, and the fleet it waits for now (none: unmatched). */
export interface Rematch {
  job: JobRecord;
  fleet?: string;
}

export interface Completion {
  /** The job as it was before this completion, if it was known. */
  job?: JobRecord;
  /** The runner named by the completion, if it was active until now. */
  releasedRunner?: RunnerRecord;
  /** The released runner's own job, when another job took the runner before it started: it waits again. */
  requeuedJob?: JobRecord;
  /** The runner named, left active: it belongs to another CI system or owner than the completion. */
  refusedRunner?: RunnerRecord;
}

/** A backlog job put back unchecked: its place kept, and the jobs behind it free to go first. */
export interface Deferral {
  /** When its checks began failing: the first failure since its last successful check. */
  uncheckedSince: number;
  /** The failures have now lasted longer than the limit given, for the first time: say so (once per job). */
  report: boolean;
}

export interface FleetCounts {
  active: number;
  waiting: number;
}

// Declared where the passes are recorded (the periodic tasks' leases); the store keeps them.
export type { TaskPass };

export interface Store {
  /**
   * Records a job once (a redelivery is a `duplicate`), then either claims a runner slot for it under
   * the fleet's limit or puts it at the end of the fleet's backlog. `fleet` undefined records it unmatched.
   * Only checked jobs ahead of it make it wait: unchecked ones (see deferUncheckedJob) are passed.
   */
  admitJob(job: NewJob, fleet: FleetLimit | undefined, runnerName: string, now: number, options?: AdmitOptions): Promise<Admission>;
  /**
   * Claims a slot for a runner of the fleet's warm pool, if the fleet is under its limit. `job` is the
   * pool's placeholder job (where the runner registers); it is closed when a real job takes the runner.
   */
  claimWarmRunner(fleet: FleetLimit, job: NewJob, runnerName: string, now: number): Promise<Claim | undefined>;
  /** The fleet's warm runners that no job has taken yet, oldest first. */
  warmRunners(fleet: string): Promise<RunnerRecord[]>;
  /**
   * Claims a slot for the oldest waiting job of the fleet, if the fleet is under its limit, passing over
   * the jobs named in `passOver` (their places are kept).
   */
  claimNextWaiting(
    fleet: FleetLimit,
    runnerNameFor: (job: JobRecord) => string,
    now: number,
    passOver?: readonly JobKey[],
  ): Promise<Claim | undefined>;
  /**
   * Records where the runner runs and when (`launchedAt`, on the runner and its job); `launchSpec` (the spec
   * it was launched with) is kept as the runner's `launchSpec`, and what the launch said (`priced`: its price,
   * whether spot, when the launch was requested) with it. Nothing changes for a runner no longer launching.
   */
  markRunnerLaunched(
    name: string,
    computeId: string,
    computeDetail: string,
    now: number,
    launchSpec?: FleetSpec,
    priced?: LaunchFacts,
  ): Promise<void>;
  markCredentialIssued(name: string, ciRunnerId: string | null, now: number): Promise<void>;
  /**
   * Frees an active runner's slot. With `requeueJob`, its job (unless finished) goes back into the
   * backlog at its original place. Returns the runner as it was, or undefined if it was not active.
   */
  releaseRunner(name: string, reason: string, options: { requeueJob: boolean }, now: number): Promise<RunnerRecord | undefined>;
  /**
   * The CI system could not say whether a claimed job is still queued: frees the slot and puts the job
   * back at its place, marked unchecked until a check of it succeeds. Undefined if the claim was already
   * released or the job finished meanwhile.
   */
  deferUncheckedJob(claim: Claim, reason: string, reportAfterMs: number, now: number): Promise<Deferral | undefined>;
  /** A claimed job turned out to be no longer queued: free the slot and close the job. */
  abandonClaim(claim: Claim, reason: string, now: number): Promise<void>;
  /**
   * The CI system says the job finished; frees the runner that ran it (by name) if it is of the same CI
   * system and `mayRelease` allows it (given the runner's own job and the completed one), and drops the job from the backlog.
   * If that runner was launched for another job not yet started anywhere, that job waits again.
   */
  completeJob(
    ci: CiSystem,
    jobId: string,
    runnerName: string | undefined,
    now: number,
    mayRelease?: (runnerJob: JobRecord | undefined, completedJob: JobRecord | undefined) => boolean,
  ): Promise<Completion>;
  /** Jobs launched for, whose runner was released before they started anywhere: they wait again, at their place. */
  requeueStrandedJobs(now: number): Promise<JobRecord[]>;
  /**
   * Waiting jobs of fleets not in `knownFleets` (removed from the fleets file) move to the fleet `match`
   * names, keeping their arrival order, or become `unmatched`. Returns each job as it was, with its new fleet.
   */
  rematchWaitingJobs(knownFleets: readonly string[], match: (job: JobRecord) => string | undefined, now: number): Promise<Rematch[]>;
  /** The CI system says a runner took the job: records when, once. Returns the job as it was, if it is known. */
  markJobStarted(ci: CiSystem, jobId: string, startedAt: number, now: number): Promise<JobRecord | undefined>;
  /** Drops a fleet's whole backlog (the fleet is being deleted); returns the jobs dropped. */
  abandonWaitingJobs(fleet: string, now: number): Promise<JobRecord[]>;
  getJob(ci: CiSystem, jobId: string): Promise<JobRecord | undefined>;
  getRunner(name: string): Promise<RunnerRecord | undefined>;
  /** Runners in `launching` or `running`. */
  activeRunners(): Promise<RunnerRecord[]>;
  /**
   * One job for each place jobs came from (CI system and origin) since `since`, or behind an active
   * runner: where runners of ours may be registered.
   */
  jobOrigins(since: number): Promise<JobRecord[]>;
  fleetCounts(): Promise<Map<string, FleetCounts>>;
  /**
   * Drains (true) or undrains a fleet: a drained fleet gets no new runners (its jobs wait in its backlog,
   * none is claimed from it, no warm runner is launched) while its running jobs finish. Kept in the store,
   * so every replica sharing it sees it. Returns whether it changed.
   */
  setFleetDrained(fleet: string, drained: boolean, now: number): Promise<boolean>;
  drainedFleets(): Promise<Set<string>>;
  /** Keeps the pass as its task's latest (one per task name, whichever replica ran it). */
  recordTaskPass(pass: TaskPass): Promise<void>;
  /** Each task's latest pass, by task name. */
  taskPasses(): Promise<TaskPass[]>;
  /** Jobs matching the filter, newest first by `receivedAt`. */
  listJobs(filter: JobFilter): Promise<JobRecord[]>;
  /** Runners matching the filter, newest first by `createdAt`. */
  listRunners(filter: RunnerFilter): Promise<RunnerRecord[]>;
  /** Jobs in each of LIVE_JOB_STATUSES, by fleet (`''` for none) and status; statuses with none are left out. */
  countJobsByStatus(): Promise<Map<string, Map<JobStatus, number>>>;
  close(): Promise<void>;
}

/** Where an IssueOps request stands. Only `planned` can be approved. */
export type RequestStatus =
  | 'invalid' // the issue does not validate; its errors are on the issue
  | 'planning' // a plan for the PR head is due or under way
  | 'planned' // a saved plan for `plannedSha` awaits /approve
  | 'plan_failed'
  | 'applying'
  | 'applied' // applied and merged (or applied, and the merge is left to a human: see the PR)
  | 'apply_failed' // nothing merged; a new plan is needed
  | 'closed'; // the PR was closed unmerged

export type RequestKind = 'create' | 'delete';

/** What every request record holds, whatever its status. */
interface RequestBase {
  repo: string;
  issueNumber: number;
  installationId: number;
  author: string;
  /** Why the request is in its status, in words for the issue or PR (failures, refusals). */
  detail: string | null;
  /** The head SHA a saved plan was made for, its file, and when its comment was posted. */
  plannedSha: string | null;
  planFile: string | null;
  plannedAt: number | null;
  planSummary: string | null;
  appliedSha: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A request that does not validate (yet, or any more). What a valid version of it published is kept for its next edit. */
export interface InvalidRequest extends RequestBase {
  status: 'invalid';
  kind: RequestKind;
  fleet: string | null;
  spec: FleetSpec | null;
  prNumber: number | null;
  branch: string | null;
}

/** What a valid request asks for: a creation carries its FleetSpec, as committed to the PR. */
export type RequestSubject = { kind: 'create'; spec: FleetSpec } | { kind: 'delete'; spec: null };

/** A valid request, with the pull request that holds its change. */
export type PublishedRequest = RequestBase & RequestSubject & { fleet: string; prNumber: number; branch: string };

/** A plan is due or under way, there is no valid one, or the pull request was closed. */
export type UnplannedRequest = PublishedRequest & { status: 'planning' | 'plan_failed' | 'apply_failed' | 'closed' };

/** A saved plan for `plannedSha` awaits /approve, or is being applied. */
export type PlannedRequest = PublishedRequest & { status: 'planned' | 'applying'; plannedSha: string; planFile: string; plannedAt: number };

export type AppliedRequest = PublishedRequest & { status: 'applied'; appliedSha: string };

/** An IssueOps request; its status says which fields are set. */
export type FleetRequestRecord = InvalidRequest | UnplannedRequest | PlannedRequest | AppliedRequest;

export interface FleetLock {
  fleet: string;
  repo: string;
  issueNumber: number;
  acquiredAt: number;
}

export type ProvisionedStatus = 'live' | 'draining';

export interface ProvisionedFleet {
  name: string;
  /** The spec as requested (what Terraform was synthesized from). */
  requested: FleetSpec;
  /** The spec the runner path uses: the request with Terraform's outputs filled in. */
  live: FleetSpec;
  status: ProvisionedStatus;
  appliedSha: string;
  requestIssue: number;
  updatedAt: number;
}

/** IssueOps state: requests, the per-fleet lock held from plan to merge or close, and applied fleets. */
export interface IssueOpsStore {
  getRequest(repo: string, issueNumber: number): Promise<FleetRequestRecord | undefined>;
  getRequestByPull(repo: string, prNumber: number): Promise<FleetRequestRecord | undefined>;
  saveRequest(request: FleetRequestRecord): Promise<void>;
  /** Requests a crash may have interrupted: `planning` or `applying`. */
  unfinishedRequests(): Promise<FleetRequestRecord[]>;
  /** The `limit` requests updated last, newest first: the operator's view of IssueOps. */
  recentRequests(limit: number): Promise<FleetRequestRecord[]>;
  /** Takes the fleet's lock for a request, unless another request holds it (returned then). */
  acquireFleetLock(fleet: string, repo: string, issueNumber: number, now: number): Promise<FleetLock>;
  /** Frees the lock if this request holds it. */
  releaseFleetLock(fleet: string, repo: string, issueNumber: number): Promise<void>;
  fleetLocks(): Promise<FleetLock[]>;
  provisionedFleets(): Promise<ProvisionedFleet[]>;
  putProvisionedFleet(fleet: ProvisionedFleet): Promise<void>;
  deleteProvisionedFleet(name: string): Promise<void>;
  /** Records someone who changed the request after it was filed: edited its issue or pushed to its branch. */
  addRequestChanger(repo: string, issueNumber: number, login: string, now: number): Promise<void>;
  /** Who changed the request after it was filed, in the order first seen (logins as GitHub sent them). */
  requestChangers(repo: string, issueNumber: number): Promise<string[]>;
  /**
   * Takes or renews the lock under which one replica at a time works the request (plans, applies), until
   * `now + ttlMs`: true when `holder` has it, false while another holder's lock has not expired. A lock
   * whose holder died expires, so the request is never stuck behind a dead replica for longer than `ttlMs`.
   */
  lockRequest(repo: string, issueNumber: number, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Frees the request's lock if `holder` has it. */
  unlockRequest(repo: string, issueNumber: number, holder: string): Promise<void>;
}

/**
 * Named leases, one holder at a time, shared by the replicas of one store: the periodic work (reconciler,
 * polls, recovery, retention) runs only on the replica holding its lease. Times are the callers' clocks,
 * so replicas keep them in step (NTP), as any lease across machines needs.
 */
export interface Lease {
  /**
   * Takes the lease for `holder` if it is free, expired or already theirs, until `now + ttlMs`, and returns
   * its fencing token; undefined while another holder's lease runs. A renewal (the holder's own unexpired
   * lease) keeps the token; every other taking gives a token greater than any given before for `name`.
   */
  acquire(name: string, holder: string, ttlMs: number, now: number): Promise<number | undefined>;
  /** Gives the lease up at once if `holder` holds it with `token` (a stopping replica need not be waited for). */
  release(name: string, holder: string, token: number): Promise<void>;
  /** Whether `holder` still holds the lease with `token` at `now`: work checks its fence before acting on it. */
  holds(name: string, holder: string, token: number, now: number): Promise<boolean>;
}

/** What webhook delivery recovery and IssueOps' once-per-delivery rule keep: GUIDs and the recovery watermark. */
export interface DeliveryLog {
  /** Deliveries older than this (ms since the epoch) were already looked at; undefined before the first pass. */
  recoveryWatermark(): Promise<number | undefined>;
  setRecoveryWatermark(at: number): Promise<void>;
  wasRecovered(guid: string): Promise<boolean>;
  markRecovered(guid: string, now: number): Promise<void>;
  /** True when this GUID had not been claimed before: the caller handles the delivery. */
  claimHandling(guid: string, now: number): Promise<boolean>;
  /** Forgets a claim whose handling failed, so a redelivery is handled. */
  releaseHandling(guid: string): Promise<void>;
  /** Forgets GUIDs recorded before `at`. */
  pruneBefore(at: number): Promise<void>;
}

/** What retention deleted. */
export interface PrunedRows {
  jobs: number;
  runners: number;
}

/** Keeps the store bounded: history older than a cut-off is deleted. */
export interface StoreRetention {
  /**
   * Deletes jobs that finished (completed, abandoned, unmatched) and runners released before `before`
   * (ms since the epoch, by their last update). Waiting and running work, and a job whose runner is still
   * active, are never deleted.
   */
  pruneFinished(before: number): Promise<PrunedRows>;
}
