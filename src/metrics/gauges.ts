import type { Gauge } from 'prom-client';
import type { FleetRegistry } from '../fleets/registry.js';
import type { IssueOpsStore, RequestStatus, RunnerRecord, Store } from '../store/types.js';

/**
 * The gauges, read from the store when Prometheus scrapes (never kept in memory): they are right after a
 * restart and, with a shared store, the same on every replica. All store reads for them are here.
 */

export interface GaugeSource {
  store: Store;
  fleets: FleetRegistry;
  /** IssueOps' store, when IssueOps is configured. */
  issueOps?: IssueOpsStore;
}

/** What `fleetbot_runners{state}` says of an active runner: an idle warm runner is `warm`, others their status. */
export type RunnerState = 'launching' | 'running' | 'warm';
const RUNNER_STATES: readonly RunnerState[] = ['launching', 'running', 'warm'];

/**
 * Requests are counted among the newest this many (two short reads on DynamoDB): every request still open
 * is among them unless hundreds were filed since, and the finished ones older than that are history.
 */
export const GAUGE_REQUESTS_READ = 200;
// Every status, each a series of its own (0 when none): a status added to RequestStatus fails to compile here.
const EVERY_REQUEST_STATUS: Record<RequestStatus, true> = {
  invalid: true,
  planning: true,
  planned: true,
  plan_failed: true,
  applying: true,
  applied: true,
  apply_failed: true,
  closed: true,
};
const REQUEST_STATES = Object.keys(EVERY_REQUEST_STATUS) as RequestStatus[];

export interface GaugeValues {
  /** By fleet, then state. */
  runners: Map<string, Map<RunnerState, number>>;
  backlog: Map<string, number>;
  maxRunners: Map<string, number>;
  requests: Map<RequestStatus, number>;
}

export interface StoreGauges {
  runners: Gauge<'fleet' | 'state'>;
  backlogJobs: Gauge<'fleet'>;
  fleetMaxRunners: Gauge<'fleet'>;
  issueOpsRequests: Gauge<'state'>;
}

function runnerState(runner: RunnerRecord): RunnerState {
  return runner.warm ? 'warm' : runner.status === 'launching' ? 'launching' : 'running';
}

/**
 * Every configured fleet appears, with zeros, so that a fleet's series exist before its first job; a
 * fleet no longer configured appears while it still has runners or a backlog.
 */
export async function readGauges(source: GaugeSource): Promise<GaugeValues> {
  const [active, counts, requests] = await Promise.all([
    source.store.activeRunners(),
    source.store.fleetCounts(),
    source.issueOps ? source.issueOps.recentRequests(GAUGE_REQUESTS_READ) : Promise.resolve([]),
  ]);
  const values: GaugeValues = { runners: new Map(), backlog: new Map(), maxRunners: new Map(), requests: new Map() };
  const fleetNames = new Set([
    ...source.fleets.all().map((fleet) => fleet.name),
    ...counts.keys(),
    ...active.map((runner) => runner.fleet),
  ]);
  for (const name of fleetNames) {
    values.runners.set(name, new Map(RUNNER_STATES.map((state) => [state, 0])));
    values.backlog.set(name, counts.get(name)?.waiting ?? 0);
  }
  for (const runner of active) {
    const byState = values.runners.get(runner.fleet)!;
    byState.set(runnerState(runner), byState.get(runnerState(runner))! + 1);
  }
  for (const fleet of source.fleets.all()) values.maxRunners.set(fleet.name, fleet.maxRunners);
  if (source.issueOps) {
    for (const state of REQUEST_STATES) values.requests.set(state, 0);
    for (const request of requests) values.requests.set(request.status, (values.requests.get(request.status) ?? 0) + 1);
  }
  return values;
}

/** Sets the gauges to what was read, dropping series of fleets and states no longer there. */
export function setGauges(gauges: StoreGauges, values: GaugeValues): void {
  gauges.runners.reset();
  for (const [fleet, byState] of values.runners) for (const [state, count] of byState) gauges.runners.set({ fleet, state }, count);
  gauges.backlogJobs.reset();
  for (const [fleet, count] of values.backlog) gauges.backlogJobs.set({ fleet }, count);
  gauges.fleetMaxRunners.reset();
  for (const [fleet, max] of values.maxRunners) gauges.fleetMaxRunners.set({ fleet }, max);
  gauges.issueOpsRequests.reset();
  for (const [state, count] of values.requests) gauges.issueOpsRequests.set({ state }, count);
}

/**
 * One store read per scrape for all four gauges: each gauge's `collect` asks `refresh()`, and the
 * gauges collected together share the read under way. Without a source (the app not loaded yet) the
 * gauges are left empty.
 */
export class ScrapeTimeGauges {
  private source: GaugeSource | undefined;
  private reading: Promise<void> | undefined;
  private gauges: StoreGauges | undefined;

  attach(gauges: StoreGauges): void {
    this.gauges = gauges;
  }

  readFrom(source: GaugeSource): void {
    this.source = source;
  }

  refresh(): Promise<void> {
    const { source, gauges } = this;
    if (!source || !gauges) return Promise.resolve();
    this.reading ??= readGauges(source)
      .then((values) => setGauges(gauges, values))
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
