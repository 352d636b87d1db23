import { failApply } from './approve.js';
import { planHead } from './plan.js';
import type { RequestQueue } from './queue.js';
import type { IssueOpsContext } from './types.js';

/**
 * At start: fleets applied earlier serve jobs again, and work a crash interrupted is finished or
 * reported: a plan under way is made again; an apply under way is reported as failed on the pull
 * request (Terraform's saved plan cannot be resumed; its state says what was done), a destroy's fleet
 * takes jobs again, and the head is planned again for a new approval. With replicas, the work of another
 * replica still alive looks interrupted too: it is waited for under the request's lock (queue.ts), then
 * found finished.
 */
export async function recover(ctx: IssueOpsContext, queue: RequestQueue): Promise<void> {
  const { store, fleets, log } = ctx;
  for (const fleet of await store.provisionedFleets()) {
    const { live } = fleet;
    if (fleets.isFromFile(live.name)) {
      log.warn({ fleet: live.name }, 'fleet applied by IssueOps is also in the fleets file; the file wins');
      continue;
    }
    fleets.putProvisioned(live);
    if (fleet.status === 'draining') fleets.drain(live.name);
  }
  for (const request of await store.unfinishedRequests()) {
    if (request.status === 'planning') queue.enqueue(request, () => planHead(ctx, request.repo, request.issueNumber));
    if (request.status === 'applying') {
      queue.enqueue(request, async () => {
        // Read again under the request's lock: the apply may be another replica's, which finished meanwhile.
        const current = await store.getRequest(request.repo, request.issueNumber);
        if (current?.status !== 'applying') return;
        const github = await ctx.github(current.installationId);
        await failApply(
          ctx,
          github,
          current,
          "fleetbot restarted during the apply, so it did not finish and nothing was merged; Terraform's state says what was done. " +
            'A new plan of the head follows: review it and approve again (or comment `/plan` if none comes).',
        );
        await planHead(ctx, request.repo, request.issueNumber);
      });
    }
  }
}
