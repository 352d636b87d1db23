import type { Logger } from 'probot';
import type { ComputeBackend } from '../compute/types.js';
import type { FleetRegistry } from '../fleets/registry.js';
import { errorFields } from '../retry.js';
import type { Store } from '../store/types.js';
import type { Scheduler } from './scheduler.js';

export interface ReconcilerDeps {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  scheduler: Scheduler;
  log: Logger;
  /** How long a runner may stay `launching` with nobody working on it before it is launched again. */
  launchTimeoutMs: number;
  now?: () => number;
}

export interface ReconcileSummary {
  released: number;
  relaunched: number;
  adopted: number;
  credentialsRetried: number;
  orphansStopped: number;
  backlogLaunched: number;
  errors: number;
}

/**
 * Heals what webhooks miss. Each pass compares the store with the cloud, fleet by fleet:
 * - a runner whose task has stopped or vanished → its slot is freed and its job waits again (the
 *   backlog drain asks GitHub whether it is still queued before launching anything);
 * - a runner stuck `launching` → adopted if its task exists after all, launched again otherwise;
 * - a running runner without its credential → the credential is issued again;
 * - a task of ours whose runner was already released → stopped;
 * - then every backlog is drained while capacity allows.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileSummary> | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Runs a pass now and then every `intervalMs`; passes never overlap. */
  start(intervalMs: number): void {
    void this.pass();
    this.timer = setInterval(() => void this.pass(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; a pass already under way is joined rather than doubled. */
  pass(): Promise<ReconcileSummary> {
    this.running ??= this.reconcile().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async reconcile(): Promise<ReconcileSummary> {
    const { store, fleets, compute, scheduler, log } = this.deps;
    const summary: ReconcileSummary = {
      released: 0,
      relaunched: 0,
      adopted: 0,
      credentialsRetried: 0,
      orphansStopped: 0,
      backlogLaunched: 0,
      errors: 0,
    };
    const active = await store.activeRunners();
    for (const fleet of fleets.all()) {
      const runners = active.filter((runner) => runner.fleet === fleet.name && !scheduler.isBusy(runner.name));
      try {
        const launched = runners.filter((runner) => runner.status === 'running' && runner.computeId);
        const states = await compute.describe(fleet, launched.map((runner) => runner.computeId!));
        for (const runner of launched) {
          const state = states.get(runner.computeId!);
          if (state === 'stopped' || state === 'missing') {
            if (await scheduler.releaseRunner(runner, `task ${state}`, true)) summary.released++;
          } else if (!runner.credentialIssued) {
            scheduler.retryCredential(fleet, runner);
            summary.credentialsRetried++;
          }
        }

        const inCloud = await compute.list(fleet);
        const stuck = runners.filter(
          (runner) => runner.status === 'launching' && this.now() - runner.updatedAt >= this.deps.launchTimeoutMs,
        );
        for (const runner of stuck) {
          const task = inCloud.find((candidate) => candidate.runnerName === runner.name);
          if (task) {
            // The task was started but the process died before recording it.
            await store.markRunnerLaunched(runner.name, task.computeId, 'adopted', this.now());
            scheduler.retryCredential(fleet, { ...runner, status: 'running', computeId: task.computeId });
            summary.adopted++;
          } else {
            scheduler.retryLaunch(fleet, runner);
            summary.relaunched++;
          }
        }

        for (const task of inCloud) {
          if (!task.runnerName) continue;
          const owner = await store.getRunner(task.runnerName);
          if (owner?.status === 'released') {
            await compute.stop(fleet, task.computeId, 'fleetbot: runner already released');
            summary.orphansStopped++;
          }
        }
      } catch (error) {
        summary.errors++;
        log.error({ fleet: fleet.name, err: errorFields(error) }, 'reconcile pass failed for the fleet');
      }
    }
    try {
      summary.backlogLaunched = await scheduler.drainAll();
    } catch (error) {
      summary.errors++;
      log.error({ err: errorFields(error) }, 'backlog drain failed');
    }
    const changed = Object.values(summary).some((count) => count > 0);
    log[changed ? 'info' : 'debug']({ reconcile: summary }, 'reconcile pass');
    return summary;
  }
}

