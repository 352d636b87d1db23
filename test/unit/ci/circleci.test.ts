import { CircleCiSource, demandJob } from '../../../src/ci/circleci.js';
import type { SecretReader } from '../../../src/secrets/types.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { circleciFleet } from '../../helpers/fleets.js';
import { UNTIMED } from '../../helpers/records.js';

const secrets: SecretReader = {
  read: async (name) => `token-from:${name}`,
  forget: () => undefined,
};

function recordOf(job: ReturnType<typeof demandJob>): JobRecord {
  return {
    ...job,
    fleet: 'cci',
    status: 'waiting',
    runnerName: null,
    launchAttempts: 1,
    receivedAt: 0,
    startedAt: null,
    ...UNTIMED,
    updatedAt: 0,
  };
}

describe('CircleCI as a job source', () => {
  const fleet = circleciFleet('cci', 'acme/linux', { url: 'https://circleci.example.com' });
  const source = new CircleCiSource(secrets);

  it('makes a job of its own for each runner, labelled with the resource class alone', () => {
    const first = demandJob(fleet.circleci!);
    const second = demandJob(fleet.circleci!);
    expect(first).toMatchObject({
      ci: 'circleci',
      labels: ['acme/linux'],
      origin: { resourceClass: 'acme/linux', url: 'https://circleci.example.com' },
    });
    expect(first.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.jobId).not.toBe(first.jobId);
  });

  it('gives the runner the resource class token, its name and the runner API url', async () => {
    const runner = { name: 'cci-1234-abcdef' } as RunnerRecord;
    const credential = await source.createRunnerCredential(recordOf(demandJob(fleet.circleci!)), runner, fleet);
    expect(JSON.parse(credential.value)).toEqual({
      token: 'token-from:/fleetbot/circleci/cci/runner-token',
      name: 'cci-1234-abcdef',
      url: 'https://circleci.example.com',
      resourceClass: 'acme/linux',
    });
    expect(credential.ciRunnerId).toBeUndefined();
  });

  it('never relaunches a job from the backlog: the next poll reads demand afresh', async () => {
    await expect(source.isJobQueued()).resolves.toBe(false);
  });

  it('keeps one credential lane per CircleCI installation', () => {
    const other = circleciFleet('cci-cloud', 'acme/mac');
    expect(source.credentialLane(recordOf(demandJob(fleet.circleci!)))).toBe('circleci:https://circleci.example.com');
    expect(source.credentialLane(recordOf(demandJob(other.circleci!)))).toBe('circleci:https://runner.circleci.com');
  });
});
