import { randomUUID } from 'node:crypto';
import { sleep } from '../retry.js';
import { recover } from './recovery.js';
import { RequestQueue } from './queue.js';
import { IssueOpsRouter } from './router.js';
import type { IssueCommentPayload, IssueOpsContext, IssueOpsDeps, IssuesPayload, PullRequestPayload } from './types.js';

/** How long a request lock outlives its holder's last renewal, unless the app says (FLEETBOT_LEASE_SECONDS). */
const DEFAULT_REQUEST_LOCK_MS = 15_000;

/**
 * IssueOps, top to bottom: a request issue becomes a validated FleetSpec (intake.ts), a pull request
 * with the synthesized Terraform (pull-request.ts), a saved plan on the PR head (plan.ts), and, on an
 * allowed `/approve`, exactly that plan applied, the PR merged and the fleet serving jobs (approve.ts).
 * The router (router.ts) answers each webhook at once; the work of one request runs in its own serial
 * lane (queue.ts), so edits, pushes and approvals of a request never overlap.
 */
export class IssueOps {
  private readonly ctx: IssueOpsContext;
  private readonly queue: RequestQueue;
  private readonly router: IssueOpsRouter;

  constructor(deps: IssueOpsDeps) {
    const { terraform } = deps.settings;
    this.ctx = {
      ...deps,
      now: deps.now ?? Date.now,
      sleep: deps.sleep ?? sleep,
      requestLock: deps.requestLock ?? { holder: `issueops-${randomUUID()}`, ttlMs: DEFAULT_REQUEST_LOCK_MS },
      synthSettings: { backend: terraform.backend, provider: terraform.provider },
    };
    this.queue = new RequestQueue(this.ctx);
    this.router = new IssueOpsRouter(this.ctx, this.queue);
  }

  /** At start: applied fleets serve jobs again, and work a restart interrupted is resumed or reported. */
  load(): Promise<void> {
    return recover(this.ctx, this.queue);
  }

  /** Waits until no IssueOps work is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  onIssue(payload: IssuesPayload): void {
    this.router.onIssue(payload);
  }

  onPullRequest(payload: PullRequestPayload): Promise<void> {
    return this.router.onPullRequest(payload);
  }

  onComment(payload: IssueCommentPayload): Promise<void> {
    return this.router.onComment(payload);
  }
}
