import type { FleetRequestRecord, PublishedRequest, UnplannedRequest } from '../store/types.js';
import { undrain } from './drain.js';
import type { IssueOpsContext } from './types.js';

/**
 * A request's pull request closed without `/approve` (or merged by hand): the request is closed, its
 * fleet lock released and its saved plans discarded. A merge by hand is called out on the PR, since
 * nothing was applied.
 */
export async function pullClosed(ctx: IssueOpsContext, repo: string, issueNumber: number, mergedBy: string | undefined): Promise<void> {
  const { store, log } = ctx;
  const found = await store.getRequest(repo, issueNumber);
  const request = found && published(found);
  if (!request || request.status === 'applied' || request.status === 'applying') return;
  const github = await ctx.github(request.installationId);
  const closed: UnplannedRequest = {
    ...request,
    status: 'closed',
    detail: mergedBy ? `merged by ${mergedBy} without /approve` : 'pull request closed',
    updatedAt: ctx.now(),
  };
  await store.saveRequest(closed);
  await store.releaseFleetLock(request.fleet, repo, issueNumber);
  await ctx.workspace.discardPlans(request.fleet);
  // An abandoned destroy: a fleet left draining takes jobs again.
  if (request.kind === 'delete') await undrain(ctx, request.fleet);
  log.info({ fleet: request.fleet, pr: request.prNumber, mergedBy }, 'request pull request closed; lock released');
  if (mergedBy) {
    await github.comment(
      request.prNumber,
      `⚠️ @${mergedBy} merged this without \`/approve\`: ` +
        "fleetbot applied nothing, so the fleet's resources do not match the repository.",
    );
  }
}

/** The request as published; an invalid one only if a valid version of it was published before. */
function published(request: FleetRequestRecord): (PublishedRequest & Pick<FleetRequestRecord, 'status'>) | undefined {
  if (request.status !== 'invalid') return request;
  const { fleet, prNumber, branch, spec } = request;
  if (fleet === null || prNumber === null || branch === null) return undefined;
  if (request.kind === 'delete') return { ...request, fleet, prNumber, branch, kind: 'delete', spec: null };
  return spec ? { ...request, fleet, prNumber, branch, kind: 'create', spec } : undefined;
}
