import { CiRouter } from '../../../src/ci/router.js';
import type { CiSource } from '../../../src/ci/types.js';
import type { CiSystem } from '../../../src/fleets/spec.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { UNTIMED } from '../../helpers/records.js';

/** A source that answers in its CI system's name and records each call as `method ci job`. */
function recordingSource(ci: CiSystem, calls: string[]): CiSource {
  return {
    ci,
    createRunnerCredential: async (job) => {
      calls.push(`credential ${ci} ${job.jobId}`);
      return { value: `${ci}-secret` };
    },
    isJobQueued: async (job) => {
      calls.push(`queued ${ci} ${job.jobId}`);
      return ci === 'gitlab';
    },
    credentialLane: (job) => `${ci}:${job.jobId}`,
  };
}

function jobOf(ci: CiSystem, jobId: string): JobRecord {
  return {
    ci,
    jobId,
    fleet: 'f',
    status: 'launching',
    labels: [],
    origin: {},
    runnerName: null,
    launchAttempts: 0,
    receivedAt: 0,
    startedAt: null,
    ...UNTIMED,
    updatedAt: 0,
  };
}

describe('the CI router', () => {
  const runner = { name: 'f-1-abcdef' } as RunnerRecord;

  it('hands every call for a job to the source of its CI system', async () => {
    const calls: string[] = [];
    const router = new CiRouter([recordingSource('github', calls), recordingSource('gitlab', calls)]);

    expect(await router.createRunnerCredential(jobOf('gitlab', '7'), runner, ecsFleet())).toEqual({ value: 'gitlab-secret' });
    expect(await router.isJobQueued(jobOf('github', '8'))).toBe(false);
    expect(router.credentialLane(jobOf('gitlab', '9'))).toBe('gitlab:9');
    expect(calls).toEqual(['credential gitlab 7', 'queued github 8']);
  });

  it('names the CI system when no source serves it', async () => {
    const router = new CiRouter([recordingSource('github', [])]);
    await expect(router.isJobQueued(jobOf('circleci', '1'))).rejects.toThrow('no job source is configured for circleci');
  });
});
