import type { IssueOpsContext } from './types.js';

/**
 * Stops a fleet taking jobs before it is destroyed: its backlog is dropped (and logged job by job),
 * and the apply waits for busy runners to finish, up to the drain timeout. Returns how many queued jobs
 * were dropped.
 */
/** A destroy that failed or was abandoned: a draining fleet is live again, and takes jobs. Returns whether it was draining. */
export async function undrain(ctx: IssueOpsContext, fleet: string): Promise<boolean> {
  const provisioned = (await ctx.store.provisionedFleets()).find((entry) => entry.name === fleet);
  const wasDraining = provisioned?.status === 'draining' || ctx.fleets.isDraining(fleet);
  if (provisioned?.status === 'draining') await ctx.store.putProvisionedFleet({ ...provisioned, status: 'live', updatedAt: ctx.now() });
  ctx.fleets.undrain(fleet);
  if (wasDraining) ctx.log.info({ fleet }, 'destroy did not happen: the fleet takes jobs again');
  return wasDraining;
}

export async function drain(ctx: IssueOpsContext, fleet: string): Promise<number> {
  const { store, jobs, fleets, log } = ctx;
  const provisioned = (await store.provisionedFleets()).find((entry) => entry.name === fleet);
  if (provisioned) await store.putProvisionedFleet({ ...provisioned, status: 'draining', updatedAt: ctx.now() });
  fleets.drain(fleet);
  const dropped = await jobs.abandonWaitingJobs(fleet, ctx.now());
  for (const job of dropped) {
    log.warn({ fleet, ci: job.ci, jobId: job.jobId }, 'queued job dropped: its fleet is being deleted');
  }
  const deadline = ctx.now() + ctx.settings.drainTimeoutSeconds * 1000;
  for (;;) {
    const active = (await jobs.fleetCounts()).get(fleet)?.active ?? 0;
    if (active === 0) break;
    if (ctx.now() >= deadline) {
      log.warn({ fleet, active }, 'drain timeout: destroying with runners still busy');
      break;
    }
    log.info({ fleet, active }, 'waiting for busy runners before destroying the fleet');
    await ctx.sleep(ctx.drainPollMs ?? 5000);
  }
  return dropped.length;
}
