import type { ApplicationFunction, ApplicationFunctionOptions, Probot } from 'probot';
import { CiRouter } from './ci/router.js';
import type { CiConnector, JobIntake } from './ci/types.js';
import type { ComputeBackend } from './compute/types.js';
import type { FleetRegistry } from './fleets/registry.js';
import type { CiSystem } from './fleets/spec.js';
import type { DeliveryQueue, VerifiedDelivery } from './deliveries.js';
import type { IssueForm } from './issueops/form.js';
import { OctokitIssueOpsGitHub } from './issueops/github.js';
import { IssueOps } from './issueops/service.js';
import { taskLease, type ReplicaLeases } from './lease-keeper.js';
import type { IssueOpsSettings } from './issueops/settings.js';
import type { SynthesizeFleet } from './issueops/types.js';
import type { FleetWorkspace } from './issueops/workspace.js';
import { Reconciler } from './jobs/reconciler.js';
import { Retention } from './jobs/retention.js';
import { Scheduler } from './jobs/scheduler.js';
import { meterCompute, meterCredentials, meterJobSink, meterStore, type ObserverDeps } from './metrics/decorators.js';
import { createMetrics, type FleetbotMetrics } from './metrics/instruments.js';
import { metricsHandler } from './metrics/route.js';
import { passEach, type PassesSummary } from './periodic-task.js';
import type { CredentialStore, RunnerParameterStore } from './secrets/types.js';
import type { RetryPolicy } from './retry.js';
import { oncePerDelivery } from './issueops/once-per-delivery.js';
import type { DeliveryLog, IssueOpsStore, Store } from './store/types.js';
import type { StoreRetention } from './store/types.js';
import { refuseMisSignedDeliveries } from './webhook-signatures.js';
import type { OperatorView } from './operator/types.js';
import type { DashboardAccess } from './web/access.js';
import { dashboardHandler } from './web/routes.js';

export interface FleetbotOptions {
  store: Store;
  /** The app's Prometheus metrics (`GET /metrics`); without it the app makes its own registry. */
  metrics?: FleetbotMetrics;
  /** With it, `GET /metrics` needs `Authorization: Bearer <token>` (FLEETBOT_METRICS_TOKEN). */
  metricsToken?: string;
  /** Where runners are priced when their fleet names no region (AWS_REGION). */
  pricingRegion?: string;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  credentials: CredentialStore;
  /** The CI systems jobs come from, one connector each (`connectGitHub`, `connectGitLab`, `connectCircleCi`). */
  ciSystems: readonly CiConnector[];
  /** Runner parameters for the reconciler's sweep of old ones; without it there is no sweep. */
  runnerParameters?: RunnerParameterStore;
  /** Retries of IssueOps' GitHub calls (5xx, rate limits); Octokit's own retry plugin is off so it is not doubled. */
  githubRetry: RetryPolicy;
  launchTimeoutMs: number;
  /** How long a task or instance nobody owns may run before the reconciler stops it. */
  orphanGraceMs?: number;
  /** The least time between two sweeps of the runners registered with the CI systems. */
  runnerSweepIntervalMs?: number;
  /** The clock; tests move it instead of waiting. */
  now?: () => number;
  /** Reconcile at start and then at this interval; undefined runs passes only when asked (tests). */
  reconcileIntervalMs?: number;
  /** Finished jobs and released runners older than `retentionMs` are pruned at start and hourly; without it, never. */
  retention?: { store: StoreRetention; retentionMs: number };
  /**
   * With a queue (FLEETBOT_QUEUE_URL), webhook routes verify each delivery and queue it instead of handling it;
   * whatever consumes the queue hands the deliveries to `replay`.
   */
  queue?: DeliveryQueue;
  /**
   * false: loading the app starts no periodic work (reconciler, retention, polls, delivery recovery); a Lambda
   * function runs only what it is invoked for. Default true.
   */
  periodicWork?: boolean;
  /** Delivery GUIDs already handled: with it, IssueOps handles a delivery made again (redelivered) only once. */
  deliveries?: DeliveryLog;
  /**
   * This replica's leases: with them the reconciler (warm pools included), CircleCI polls, delivery
   * recovery and retention each run only on the replica holding the lease of its name, and IssueOps
   * request locks are this replica's `holder`'s, lasting `ttlMs`. Without them every task runs here, and
   * IssueOps locks requests under a holder of its own.
   */
  leases?: ReplicaLeases;
  /** Fleets by IssueOps, when the fleets file has an `issueops` section. */
  issueOps?: {
    settings: IssueOpsSettings;
    store: IssueOpsStore;
    workspace: FleetWorkspace;
    forms: { request: IssueForm; delete: IssueForm };
    /** cdktf/synth.ts's synthesizeFleet, loaded by the caller only when IssueOps is configured. */
    synthesize: SynthesizeFleet;
    /** The app's secret values, redacted from failure comments (config.ts's `secretValues`). */
    secrets: readonly string[];
  };
  /** With it, `/dashboard` and the JSON API (`/api/status`, …) are served on the app's port, as `dashboard` allows. */
  operatorView?: OperatorView;
  /** Who may use the dashboard and its API (web/access.ts's `dashboardAccess`); required with `operatorView`. */
  dashboard?: DashboardAccess;
}

export interface Fleetbot {
  app: ApplicationFunction;
  /** Its Prometheus metrics, served on `GET /metrics`. */
  readonly metrics: FleetbotMetrics;
  /** Available once `app` has been loaded into a Probot. */
  readonly scheduler: Scheduler;
  readonly reconciler: Reconciler;
  /** Present when IssueOps is configured. */
  readonly issueOps: IssueOps | undefined;
  /** How each CI system hears of jobs (a poller's `pass()` polls now). */
  readonly intakes: ReadonlyMap<CiSystem, JobIntake>;
  /** Handles a delivery taken from the queue with the handlers of its CI system; throws when it should come again. */
  replay(delivery: VerifiedDelivery): Promise<void>;
  /**
   * One pass of each periodic task (reconciler, retention, each intake's `periodicTask`), each under its
   * lease, starting no timer: what a scheduled Lambda invocation (`tick`) runs. Launches the passes start
   * are not waited for (`idle()`).
   */
  periodicPass(): Promise<PassesSummary>;
  /** Waits for launches, credentials, later reads and IssueOps work still under way. */
  idle(): Promise<void>;
  /** Stops the intakes and the reconciler and waits for work under way. */
  stop(): Promise<void>;
}

const RECONCILER_TASK = 'reconciler';
const RETENTION_TASK = 'retention';

interface Wired {
  scheduler: Scheduler;
  reconciler: Reconciler;
  retention: Retention | undefined;
  issueOps: IssueOps | undefined;
  intakes: Map<CiSystem, JobIntake>;
}

/** The Probot app: wires each CI system to the scheduler, and starts the reconciler. Nothing else. */
export function createFleetbot(options: FleetbotOptions): Fleetbot {
  const metrics = options.metrics ?? createMetrics();
  let wired: Wired | undefined;
  const get = (): Wired => wired ?? notLoaded();

  const app = async (probot: Probot, { addHandler }: ApplicationFunctionOptions) => {
    const loaded = (wired = wire(probot, addHandler, { ...options, metrics }));
    // Fleets applied earlier serve jobs before the first reconcile pass looks at them.
    await loaded.issueOps?.load();
    if (options.periodicWork === false) return;
    if (options.reconcileIntervalMs !== undefined) loaded.reconciler.start(options.reconcileIntervalMs);
    loaded.retention?.start();
    for (const intake of loaded.intakes.values()) intake.start?.();
  };

  return {
    app,
    metrics,
    get scheduler() {
      return get().scheduler;
    },
    get reconciler() {
      return get().reconciler;
    },
    get issueOps() {
      return get().issueOps;
    },
    get intakes() {
      return get().intakes;
    },
    replay: (delivery) => replay(get().intakes, delivery),
    periodicPass: () => passEach(periodicTasks(get())),
    idle: async () => {
      await wired?.issueOps?.idle();
      for (const intake of wired?.intakes.values() ?? []) await intake.idle?.();
      await wired?.scheduler.idle();
    },
    stop: async () => {
      if (!wired) return;
      // Intakes first: a poll under way may still admit jobs, whose launches are waited for below.
      await Promise.all([...wired.intakes.values()].map((intake) => intake.stop?.()));
      await wired.reconciler.stop();
      await wired.retention?.stop();
      await wired.issueOps?.idle();
      await wired.scheduler.idle();
    },
  };
}

function notLoaded(): never {
  throw new Error('the fleetbot app has not been loaded into Probot yet');
}

/** A queued delivery to the intake of its CI system. */
async function replay(intakes: ReadonlyMap<CiSystem, JobIntake>, delivery: VerifiedDelivery): Promise<void> {
  const intake = intakes.get(delivery.ci);
  if (!intake?.replay) throw new Error(`a queued ${delivery.ci} delivery, but this app does not serve ${delivery.ci}`);
  await intake.replay(delivery);
}

/** The periodic tasks by the names of their leases: the reconciler, retention when the store has it, and the intakes'. */
function periodicTasks({ reconciler, retention, intakes }: Wired): Map<string, () => Promise<unknown>> {
  const tasks = new Map<string, () => Promise<unknown>>([[RECONCILER_TASK, () => reconciler.pass()]]);
  if (retention) tasks.set(RETENTION_TASK, () => retention.pass());
  for (const intake of intakes.values()) {
    if (intake.periodicTask) tasks.set(intake.periodicTask, async () => intake.pass?.());
  }
  return tasks;
}

/** Each CI system's source for the scheduler's questions, then its intake feeding the scheduler. */
function wire(
  probot: Probot,
  addHandler: ApplicationFunctionOptions['addHandler'],
  options: FleetbotOptions & { metrics: FleetbotMetrics },
): Wired {
  const log = probot.log.child({ name: 'fleetbot' });
  refuseMisSignedDeliveries(probot, log, options.queue);
  const { leases, queue, metrics } = options;
  addHandler(metricsHandler(metrics.registry, options.metricsToken, log));
  metrics.readGaugesFrom({ store: options.store, fleets: options.fleets, issueOps: options.issueOps?.store });
  const connections = options.ciSystems.map((connect) =>
    connect({ probot, addHandler, fleets: options.fleets, store: options.store, log, leases, queue }),
  );
  // The scheduler and reconciler are given metered versions of what they use (src/metrics/decorators.ts).
  const observer: ObserverDeps = { ...options, log, now: options.now ?? Date.now };
  const ci = meterCredentials(new CiRouter(connections.map((connection) => connection.source)), metrics);
  const metered = { ci, log, store: meterStore(options.store, observer), compute: meterCompute(options.compute, observer) };
  const scheduler = new Scheduler({ ...options, ...metered });
  const reconciler = new Reconciler({
    ...options,
    ...metered,
    scheduler,
    lease: taskLease(leases, RECONCILER_TASK),
    observePass: (durationMs) => metrics.reconcileDuration.observe(durationMs / 1000),
  });
  const retention =
    options.retention && new Retention({ ...options.retention, log, now: options.now, lease: taskLease(leases, RETENTION_TASK) });
  const issueOps = options.issueOps && wireIssueOps(probot, options, options.issueOps, log);
  const sink = meterJobSink(scheduler, observer);
  const intakes = new Map(connections.map((connection) => [connection.source.ci, connection.listen(sink)]));
  if (options.operatorView) {
    if (!options.dashboard) throw new Error('operatorView needs dashboard: who may see it (web/access.ts dashboardAccess)');
    addHandler(dashboardHandler({ view: options.operatorView, access: options.dashboard, log, now: options.now }));
  }
  return { scheduler, reconciler, retention, issueOps, intakes };
}

function wireIssueOps(
  probot: Probot,
  options: FleetbotOptions,
  issueOpsOptions: NonNullable<FleetbotOptions['issueOps']>,
  log: Probot['log'],
): IssueOps {
  // Comments are updated in place only when the App wrote them; its login comes from GET /app once.
  let botLogin: Promise<string> | undefined;
  const appBotLogin = (): Promise<string> => {
    botLogin ??= (async () => {
      const octokit = await probot.auth();
      const { data } = await octokit.request('GET /app');
      if (!data?.slug) throw new Error('GET /app returned no slug');
      return `${data.slug}[bot]`;
    })().catch((error: unknown) => {
      botLogin = undefined;
      throw error;
    });
    return botLogin;
  };
  const { leases } = options;
  const issueOps = new IssueOps({
    ...issueOpsOptions,
    requestLock: leases && { holder: leases.holder, ttlMs: leases.ttlMs },
    jobs: options.store,
    fleets: options.fleets,
    log,
    github: async (installationId) =>
      new OctokitIssueOpsGitHub(
        await probot.auth(installationId),
        issueOpsOptions.settings.repository,
        await appBotLogin(),
        options.githubRetry,
      ),
  });
  const { deliveries } = options;
  const once = (guid: string, handle: () => unknown) => (deliveries ? oncePerDelivery(deliveries, guid, handle, log) : handle());
  probot.on('issues', (context) => once(context.id, () => issueOps.onIssue(context.payload)));
  probot.on('pull_request', (context) => once(context.id, () => issueOps.onPullRequest(context.payload)));
  probot.on('issue_comment', (context) => once(context.id, () => issueOps.onComment(context.payload)));
  return issueOps;
}
