import type { Logger } from 'probot';
import type { CiCalls } from '../ci/router.js';
import type { JobCompleted } from '../ci/types.js';
import type { JobRecord, RunnerRecord, Store } from '../store/types.js';

/**
 * Records a completion in one store operation and logs what it did: the job leaves the backlog; the
 * runner that ran it is freed, if it is of the same CI system and owner; and if another job took that
 * runner before its own job started anywhere (webhook order is not queue order), its own job goes back
 * in line at its old place. Returns the runner freed, if any.
 */
export async function recordCompletion(
  store: Store,
  ci: CiCalls,
  completed: JobCompleted,
  now: number,
  log: Logger,
): Promise<RunnerRecord | undefined> {
  const { jobId, runnerName } = completed;
  const { job, releasedRunner, requeuedJob, refusedRunner } = await store.completeJob(completed.ci, jobId, runnerName, now, (own, done) =>
    mayFreeRunner(ci, completed, done, own),
  );
  const fields = { ci: completed.ci, jobId, runnerName, fleet: releasedRunner?.fleet ?? job?.fleet ?? undefined };
  if (job?.status === 'waiting') log.info(fields, 'job completed while waiting; dropped from the backlog');
  if (refusedRunner) {
    log.warn({ ...fields, runnerCi: refusedRunner.ci }, 'completion names a runner of another CI system or owner; left running');
  } else if (!releasedRunner) {
    log.debug(fields, 'completion names no active runner of ours');
  } else {
    log.info(fields, 'runner released after its job completed');
  }
  if (requeuedJob) {
    log.info(
      { ...fields, requeuedJobId: requeuedJob.jobId },
      'another job took the runner before its own job started; that job waits again at its place',
    );
  }
  return releasedRunner;
}

/**
 * Whether a completion may free the runner launched for `runnerJob`: the completed job must come from
 * where that runner registers (for GitHub, the same organisation or repository), so that a completion
 * from another owner cannot stop a runner mid-job. The CI system itself is checked by the store. Where
 * the CI system has no runner scopes, or either origin is unknown, there is nothing to compare.
 */
export function mayFreeRunner(
  ci: CiCalls,
  completed: JobCompleted,
  completedJob: JobRecord | undefined,
  runnerJob: JobRecord | undefined,
): boolean {
  const origin = completed.origin ?? completedJob?.origin;
  if (!ci.runnerScope || !origin || !runnerJob) return true;
  try {
    return ci.runnerScope({ ci: completed.ci, origin }) === ci.runnerScope(runnerJob);
  } catch {
    // An origin that does not parse names no owner we know: nothing of ours is freed by it.
    return false;
  }
}
