import { errorFields } from '../errors.js';
import { SerialLanes } from '../serial-lanes.js';
import { redactSecrets } from '../terraform/redact.js';
import { failureComment } from './messages.js';
import type { IssueOpsContext } from './types.js';

/** How often a replica waiting for a request's lock asks for it again. */
const LOCK_POLL_MS = 1_000;

/** A request, as far as queueing its work needs: its lane, and where a failure is explained. */
export interface QueuedRequest {
  repo: string;
  issueNumber: number;
  installationId: number;
  prNumber: number | null;
}

/**
 * The work of each request runs in its own serial lane, so edits, pushes and approvals of one request
 * never overlap; webhook handlers only queue it and answer at once.
 */
export class RequestQueue {
  private readonly lanes = new SerialLanes();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly ctx: IssueOpsContext) {}

  enqueue(request: QueuedRequest, task: () => Promise<void>): void {
    const key = laneKey(request.repo, request.issueNumber);
    const work = this.lanes.run(key, () => this.underLock(key, request, task));
    this.track(key, work, request.installationId, request.prNumber ?? request.issueNumber);
  }

  /** Waits until no IssueOps work is queued or running. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /**
   * Runs the task holding the request's lock (IssueOpsStore.lockRequest), so that of the replicas sharing
   * the store one at a time works a request. A replica that finds the lock held waits for it rather than
   * handing the work off: the webhook it was sent (an edit, a push, an /approve) is its own to act on, no
   * channel reaches the holder, and every task reads the request afresh once it runs, so it acts on what
   * the holder left. The lock is renewed every third of its time while the task runs (an apply takes
   * minutes); the lock of a replica that died lapses after `ttlMs`, so no wait is longer than that.
   */
  private async underLock(key: string, request: QueuedRequest, task: () => Promise<void>): Promise<void> {
    const { store, log, now, sleep } = this.ctx;
    const { holder, ttlMs } = this.ctx.requestLock;
    const { repo, issueNumber } = request;
    const lock = () => store.lockRequest(repo, issueNumber, holder, ttlMs, now());
    if (!(await lock())) {
      log.info({ request: key }, 'another replica is working this request; waiting for its lock');
      while (!(await lock())) await sleep(Math.min(LOCK_POLL_MS, ttlMs / 3));
    }
    let renewing: Promise<void> = Promise.resolve();
    const renewal = setInterval(() => {
      renewing = lock().then(
        (held) => {
          if (!held) log.error({ request: key }, 'the request lock was lost to another replica while working it');
        },
        (error: unknown) => log.warn({ request: key, err: errorFields(error) }, 'could not renew the request lock'),
      );
    }, ttlMs / 3);
    renewal.unref();
    try {
      await task();
    } finally {
      clearInterval(renewal);
      // A renewal still on its way would otherwise lock the request again after the unlock.
      await renewing;
      await store.unlockRequest(repo, issueNumber, holder);
    }
  }

  /**
   * Runs work in the background. An unexpected failure (GitHub still failing after retries, a full
   * disk) is logged and, where possible, explained where the person who asked will see it.
   */
  private track(key: string, work: Promise<void>, installationId: number, explainOn: number): void {
    const { log } = this.ctx;
    const tracked = work.catch(async (error: unknown) => {
      log.error({ request: key, err: errorFields(error) }, 'IssueOps work failed');
      try {
        const github = await this.ctx.github(installationId);
        await github.comment(explainOn, failureComment(redactSecrets(errorFields(error).message, this.ctx.secrets)));
      } catch (reportError) {
        log.error({ request: key, err: errorFields(reportError) }, 'could not report the failure on GitHub');
      }
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}

function laneKey(repo: string, issueNumber: number): string {
  return `${repo.toLowerCase()}#${issueNumber}`;
}
