import type { ApplicationFunction, Probot } from 'probot';
import { GitHubSource, parseWorkflowJob } from './ci/github.js';
import type { ComputeBackend } from './compute/types.js';
import type { FleetRegistry } from './fleets/registry.js';
import { Reconciler } from './jobs/reconciler.js';
import { Scheduler, type CredentialStore } from './jobs/scheduler.js';
import type { RetryPolicy } from './retry.js';
import type { Store } from './store/types.js';

export interface FleetbotOptions {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  credentials: CredentialStore;
  /** Retries of GitHub calls (5xx, rate limits); Octokit's own retry plugin is off so it is not doubled. */
  githubRetry: RetryPolicy;
  launchTimeoutMs: number;
  /** Reconcile at start and then at this interval; undefined runs passes only when asked (tests). */
  reconcileIntervalMs?: number;
}

export interface Fleetbot {
  app: ApplicationFunction;
  /** Available once `app` has been loaded into a Probot. */
  readonly scheduler: Scheduler;
  readonly reconciler: Reconciler;
  /** Waits for launches and credentials still under way. */
  idle(): Promise<void>;
  /** Stops the reconciler and waits for work under way. */
  stop(): Promise<void>;
}

interface Wired {
  scheduler: Scheduler;
  reconciler: Reconciler;
}

/** The Probot app: wires webhook handlers to the scheduler, and starts the reconciler. Nothing else. */
export function createFleetbot(options: FleetbotOptions): Fleetbot {
  let wired: Wired | undefined;
  const get = (): Wired => {
    if (!wired) throw new Error('the fleetbot app has not been loaded into Probot yet');
    return wired;
  };

  const app = (probot: Probot) => {
    const log = probot.log.child({ name: 'fleetbot' });
    const ci = new GitHubSource((installationId) => probot.auth(installationId), options.githubRetry);
    const scheduler = new Scheduler({ ...options, ci, log });
    const reconciler = new Reconciler({ ...options, scheduler, log });
    wired = { scheduler, reconciler };

    probot.on('workflow_job', async (context) => {
      const parsed = parseWorkflowJob(context.payload);
      const fields = { deliveryId: context.id };
      if (parsed.kind === 'malformed') {
        log.warn(fields, `${parsed.reason}; ignored`);
        return;
      }
      if (parsed.kind === 'ignored') {
        log.debug(fields, parsed.reason);
        return;
      }
      const { event } = parsed;
      if (event.kind === 'queued') {
        await scheduler.jobQueued(event.job);
      } else {
        await scheduler.jobCompleted(event.provider, event.jobId, event.runnerName);
      }
    });

    if (options.reconcileIntervalMs !== undefined) reconciler.start(options.reconcileIntervalMs);
  };

  return {
    app,
    get scheduler() {
      return get().scheduler;
    },
    get reconciler() {
      return get().reconciler;
    },
    idle: () => (wired ? wired.scheduler.idle() : Promise.resolve()),
    stop: async () => {
      if (!wired) return;
      await wired.reconciler.stop();
      await wired.scheduler.idle();
    },
  };
}
