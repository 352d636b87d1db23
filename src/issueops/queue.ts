import { errorFields } from '../errors.js';
import { SerialLanes } from '../serial-lanes.js';
import { redactSecrets } from '../terraform/redact.js';
import { failureComment } from './messages.js';
import type { IssueOpsContext } from './types.js';

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
    this.track(key, this.lanes.run(key, task), request.installationId, request.prNumber ?? request.issueNumber);
  }

  /** Waits until no IssueOps work is queued or running. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
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
