import type { Logger } from 'probot';
import type { FleetRegistry } from '../fleets/registry.js';
import type { Store } from '../store/types.js';

/** What the reconciler repairs in the backlogs before draining them, by count. */
export interface BacklogRepairs {
  /** Jobs launched for whose runner was released before they started anywhere, put back in line. */
  strandedRequeued: number;
  /** Waiting jobs of fleets no longer configured: given to a fleet that serves them, or dropped as unmatched. */
  backlogRematched: number;
  backlogUnmatched: number;
}

/**
 * Jobs that would otherwise wait for ever, put right before a drain:
 * - a job whose runner was released before the job started anywhere (another job took the runner and
 *   completed on it while a completion went missing, or the runner was removed idle) goes back in line
 *   at its old place; the drain that follows asks the CI system first;
 * - the backlog of a fleet no longer configured (removed from the fleets file) is matched again against
 *   the current fleets, each job keeping its arrival order, or logged and dropped as unmatched.
 */
export async function repairBacklogs(store: Store, fleets: FleetRegistry, log: Logger, now: number): Promise<BacklogRepairs> {
  const repairs: BacklogRepairs = { strandedRequeued: 0, backlogRematched: 0, backlogUnmatched: 0 };
  for (const job of await store.requeueStrandedJobs(now)) {
    repairs.strandedRequeued++;
    log.info(
      { ci: job.ci, jobId: job.jobId, fleet: job.fleet, runnerName: job.runnerName },
      "the job's runner was released before the job started; back at its place in the backlog",
    );
  }
  const known = fleets.all().map((fleet) => fleet.name);
  for (const { job, fleet } of await store.rematchWaitingJobs(known, (waiting) => fleets.match(waiting.ci, waiting.labels)?.name, now)) {
    const fields = { ci: job.ci, jobId: job.jobId, removedFleet: job.fleet, fleet, labels: job.labels };
    if (fleet) {
      repairs.backlogRematched++;
      log.info(fields, `the job's fleet ${job.fleet} is no longer configured; it waits for fleet ${fleet}`);
    } else {
      repairs.backlogUnmatched++;
      log.warn(fields, `the job's fleet ${job.fleet} is no longer configured, and no fleet serves [${job.labels.join(', ')}]; dropped`);
    }
  }
  return repairs;
}
