import type { Logger } from 'probot';
import { errorFields } from '../errors.js';
import type { TaskLease } from '../lease-keeper.js';
import { PeriodicTask } from '../periodic-task.js';
import type { PrunedRows, StoreRetention } from '../store/types.js';

/** How often history is pruned: rows become prunable by the day, so once an hour is plenty. */
export const RETENTION_INTERVAL_MS = 3_600_000;

export interface RetentionDeps {
  store: StoreRetention;
  /** Finished jobs and released runners are kept this long after their last update. */
  retentionMs: number;
  log: Logger;
  /** With it, prunes run only while this replica holds the lease. */
  lease?: TaskLease;
  now?: () => number;
}

/**
 * Keeps the store bounded: at start and then hourly, deletes the jobs that finished and the runners
 * released more than `retentionMs` ago. Its own task, beside the reconciler: a prune never delays a
 * reconcile pass, and a slow reconcile pass never holds up a prune.
 */
export class Retention {
  private readonly task: PeriodicTask<PrunedRows>;

  constructor(private readonly deps: RetentionDeps) {
    this.task = new PeriodicTask(
      () => this.prune(),
      (error) => deps.log.error({ err: errorFields(error) }, 'store pruning failed'),
      deps.lease,
    );
  }

  start(intervalMs = RETENTION_INTERVAL_MS): void {
    this.task.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One prune now (joined if one is under way). */
  pass(): Promise<PrunedRows> {
    return this.task.pass();
  }

  private async prune(): Promise<PrunedRows> {
    const started = Date.now();
    const before = (this.deps.now ?? Date.now)() - this.deps.retentionMs;
    const pruned = await this.deps.store.pruneFinished(before);
    if (pruned.jobs + pruned.runners > 0) {
      this.deps.log.info(
        { ...pruned, before: new Date(before).toISOString(), durationMs: Date.now() - started },
        `pruned ${pruned.jobs} finished jobs and ${pruned.runners} released runners older than the retention`,
      );
    }
    return pruned;
  }
}
