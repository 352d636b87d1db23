import type { Logger } from 'probot';
import type { FleetRegistry } from '../fleets/registry.js';
import type { CircleCiSettings, FleetSpec } from '../fleets/spec.js';
import { taskLease, type TaskLease } from '../lease-keeper.js';
import { PeriodicTask } from '../periodic-task.js';
import { errorFields } from '../errors.js';
import type { SecretReader } from '../secrets/types.js';
import type { RunnerRecord, Store } from '../store/types.js';
import { CIRCLECI, CircleCiSource, demandJob } from './circleci.js';
import type { CircleCiAgent } from './circleci-api.js';
import type { CiConnector, FleetBacklogs, JobPoller, JobSink } from './types.js';

/** Long enough for Fargate to pull the image and the agent to connect; see `isStarting`. */
export const DEFAULT_BOOT_WINDOW_MS = 5 * 60_000;

/** The reads of CircleCI's runner API the poller makes (`CircleCiApi` in production). */
export interface CircleCiReads {
  unclaimedTaskCount(url: string, token: string, resourceClass: string): Promise<number>;
  agents(url: string, token: string, resourceClass: string): Promise<CircleCiAgent[]>;
}

export interface CircleCiPollerDeps {
  fleets: FleetRegistry;
  store: Store;
  sink: JobSink & FleetBacklogs;
  api: CircleCiReads;
  secrets: SecretReader;
  log: Logger;
  bootWindowMs?: number;
  /** With it, polls run only while this replica holds the lease: two replicas would both launch for the same tasks. */
  lease?: TaskLease;
  now?: () => number;
}

export type FleetPoll =
  | { fleet: string; unclaimed: number; active: number; starting: number; launched: number }
  | { fleet: string; skipped: string }
  | { fleet: string; failed: string };

/**
 * A runner still on its way to a task: started by fleetbot and not released, younger than the boot
 * window, and not yet seen by CircleCI to take a task. Such a runner will claim one of the unclaimed
 * tasks, so it already answers for one of them. One past the boot window no longer counts (it is stuck
 * or about to idle out), so demand it will never serve is launched for again.
 *
 * An agent has taken a task when CircleCI lists it with a last use after its first connection (the
 * runner's name is unique to it). Comparing CircleCI's own two times avoids trusting clock agreement.
 */
export function isStarting(runner: RunnerRecord, agent: CircleCiAgent | undefined, now: number, bootWindowMs: number): boolean {
  if (now - runner.createdAt >= bootWindowMs) return false;
  if (agent?.lastUsedAt === undefined) return true;
  // A last use at or before the first connection is a zero time standing for "never", not a task.
  return agent.firstConnectedAt !== undefined && agent.lastUsedAt <= agent.firstConnectedAt;
}

/**
 * CircleCI sends no webhook when a task waits, so every pass reads each CircleCI fleet's queue
 * (`unclaimed_task_count` of its resource class) and launches
 * `min(unclaimed − starting, maxRunners − active)` single-task runners, each admitted through the
 * sink as a job of its own. A failing fleet logs one line and is tried again next pass; a refused
 * API token is reported once per fleet until it works again.
 */
export class CircleCiPoller implements JobPoller {
  private readonly task: PeriodicTask<FleetPoll[]>;
  private readonly now: () => number;
  private readonly bootWindowMs: number;
  /** Fleets whose API token CircleCI refused; reported once, until a poll succeeds again. */
  private readonly refusedToken = new Set<string>();
  /** Fleets skipped because another fleet serves their resource class; reported once. */
  private readonly shadowed = new Set<string>();

  constructor(private readonly deps: CircleCiPollerDeps) {
    this.task = new PeriodicTask(
      () => this.pollAll(),
      (error) => deps.log.error({ err: errorFields(error) }, 'CircleCI poll pass failed; trying again next pass'),
      deps.lease,
    );
    this.now = deps.now ?? Date.now;
    this.bootWindowMs = deps.bootWindowMs ?? DEFAULT_BOOT_WINDOW_MS;
  }

  start(intervalMs: number): void {
    this.task.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  pass(): Promise<FleetPoll[]> {
    return this.task.pass();
  }

  private async pollAll(): Promise<FleetPoll[]> {
    const { fleets, store } = this.deps;
    const polled = fleets.all().filter((fleet) => fleet.ci === CIRCLECI && !fleets.isDraining(fleet.name));
    if (polled.length === 0) return [];
    const active = await store.activeRunners();
    // Fleets are independent: one failing never holds up the others.
    return Promise.all(
      polled.map((fleet) =>
        this.pollFleet(
          fleet,
          active.filter((runner) => runner.fleet === fleet.name),
        ),
      ),
    );
  }

  private async pollFleet(fleet: FleetSpec, active: RunnerRecord[]): Promise<FleetPoll> {
    const settings = fleet.circleci!;
    const fields = { fleet: fleet.name, resourceClass: settings.resourceClass };
    const owner = this.deps.fleets.match(CIRCLECI, [settings.resourceClass]);
    if (owner !== fleet) {
      // Two pollers for one queue would both launch for the same tasks; the first fleet serves it.
      if (!this.shadowed.has(fleet.name)) {
        this.shadowed.add(fleet.name);
        this.deps.log.warn(
          { ...fields, servedBy: owner?.name },
          `fleet ${owner?.name} already serves ${settings.resourceClass}; this fleet is not polled`,
        );
      }
      return { fleet: fleet.name, skipped: `resource class served by ${owner?.name}` };
    }
    this.shadowed.delete(fleet.name);
    try {
      const { unclaimed, agents } = await this.readQueue(settings);
      const now = this.now();
      const agentsByName = new Map(agents.map((agent) => [agent.name, agent]));
      const starting = active.filter((runner) => isStarting(runner, agentsByName.get(runner.name), now, this.bootWindowMs)).length;
      const wanted = Math.max(0, Math.min(unclaimed - starting, fleet.maxRunners - active.length));
      const launched = await this.launch(fleet, settings, wanted);
      if (this.refusedToken.delete(fleet.name)) this.deps.log.info(fields, "CircleCI accepts the fleet's API token again");
      const poll = { fleet: fleet.name, unclaimed, active: active.length, starting, launched };
      this.deps.log[launched > 0 ? 'info' : 'debug']({ ...fields, poll }, `CircleCI poll: ${launched} runner(s) launched`);
      return poll;
    } catch (error) {
      return { fleet: fleet.name, failed: this.reportFailure(fleet, settings, error) };
    }
  }

  private async readQueue(settings: CircleCiSettings): Promise<{ unclaimed: number; agents: CircleCiAgent[] }> {
    const token = await this.deps.secrets.read(settings.apiTokenParameter);
    const [unclaimed, agents] = await Promise.all([
      this.deps.api.unclaimedTaskCount(settings.url, token, settings.resourceClass),
      this.deps.api.agents(settings.url, token, settings.resourceClass),
    ]);
    return { unclaimed, agents };
  }

  /**
   * Jobs put back in the backlog (their runner stopped) are dropped first, so that each new demand
   * job finds the backlog empty and is claimed at once rather than queued behind them.
   */
  private async launch(fleet: FleetSpec, settings: CircleCiSettings, wanted: number): Promise<number> {
    if (wanted === 0) return 0;
    await this.deps.sink.drainFleet(fleet);
    let launched = 0;
    for (let i = 0; i < wanted; i++) {
      const admission = await this.deps.sink.jobQueued(demandJob(settings));
      if (admission.kind === 'claimed') launched++;
    }
    return launched;
  }

  private reportFailure(fleet: FleetSpec, settings: CircleCiSettings, error: unknown): string {
    const fields = { fleet: fleet.name, resourceClass: settings.resourceClass, err: errorFields(error) };
    const status = (error as { status?: unknown }).status;
    if (status === 401 || status === 403) {
      // Read the token again next pass: it may have been rotated since it was cached.
      this.deps.secrets.forget(settings.apiTokenParameter);
      if (!this.refusedToken.has(fleet.name)) {
        this.refusedToken.add(fleet.name);
        this.deps.log.error(
          fields,
          `CircleCI refused the API token in ${settings.apiTokenParameter} (HTTP ${status}); ` +
            'nothing is launched for this fleet until it is replaced',
        );
      }
      return `API token refused (HTTP ${status})`;
    }
    this.deps.log.warn(fields, 'CircleCI poll failed; trying again next pass');
    return errorFields(error).message;
  }
}

/**
 * CircleCI's machine runners as a CI system: the poller reads each fleet's queue and feeds the sink.
 * `pollIntervalMs` undefined polls only when asked (`pass()`).
 */
export function connectCircleCi(options: { api: CircleCiReads; secrets: SecretReader; pollIntervalMs?: number }): CiConnector {
  return ({ fleets, store, log, leases }) => ({
    source: new CircleCiSource(options.secrets),
    listen: (sink) => {
      const periodicTask = 'circleci-poll';
      const poller = new CircleCiPoller({
        fleets,
        store,
        sink,
        api: options.api,
        secrets: options.secrets,
        log,
        lease: taskLease(leases, periodicTask),
      });
      const { pollIntervalMs } = options;
      return {
        start: () => {
          if (pollIntervalMs !== undefined) poller.start(pollIntervalMs);
        },
        pass: () => poller.pass(),
        periodicTask: pollIntervalMs === undefined ? undefined : periodicTask,
        stop: () => poller.stop(),
      };
    },
  });
}
