import { GitHubSource } from '../../../src/ci/github.js';
import type { InstallationOctokit } from '../../../src/github-client.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { UNTIMED } from '../../helpers/records.js';

const HOUR = 60 * 60 * 1000;

/** Stands in for an installation's Octokit: answers registration-token requests, counting them. */
function fakeOctokit(now: () => number) {
  const calls: string[] = [];
  let failNext = false;
  const octokit = {
    request: async (route: string) => {
      calls.push(route);
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('Bad credentials'), { status: 401 });
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { data: { token: `token-${calls.length}`, expires_at: new Date(now() + HOUR).toISOString() } };
    },
  };
  return { octokit: octokit as unknown as InstallationOctokit, calls, failOnce: () => (failNext = true) };
}

const job = (jobId: string): JobRecord => ({
  ci: 'github',
  jobId,
  fleet: 'linux-small',
  status: 'launched',
  labels: ['self-hosted'],
  origin: {
    installationId: 7,
    owner: 'acme',
    repo: 'app',
    org: 'acme',
    ownerUrl: 'https://github.com/acme',
    repoUrl: 'https://github.com/acme/app',
  },
  runnerName: `linux-small-${jobId}-aaaaaa`,
  launchAttempts: 1,
  receivedAt: 0,
  startedAt: null,
  ...UNTIMED,
  updatedAt: 0,
});
const runner = (jobId: string) => ({ name: `linux-small-${jobId}-aaaaaa` }) as RunnerRecord;
const fleet = ecsFleet({ credentials: 'registration-token' });

describe('registration tokens', () => {
  let clock = Date.parse('2026-11-23T12:00:00Z');
  const now = () => clock;

  it('asks once for concurrent runners and reuses the token while it has time left', async () => {
    const github = fakeOctokit(now);
    const source = new GitHubSource(async () => github.octokit, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, { now });
    const values = await Promise.all(['1', '2', '3'].map((id) => source.createRunnerCredential(job(id), runner(id), fleet)));
    expect(github.calls).toEqual(['POST /orgs/{org}/actions/runners/registration-token']);
    expect(values.map((value) => JSON.parse(value.value).token)).toEqual(['token-1', 'token-1', 'token-1']);
    expect(JSON.parse(values[0].value)).toEqual({
      url: 'https://github.com/acme',
      token: 'token-1',
      name: 'linux-small-1-aaaaaa',
      labels: ['self-hosted', 'linux', 'small'],
      runnerGroup: 'Default',
    });

    clock += 40 * 60 * 1000;
    await source.createRunnerCredential(job('4'), runner('4'), fleet);
    expect(github.calls).toHaveLength(1);

    // Under 15 minutes left: a runner might not register in time, so a fresh token is fetched.
    clock += 6 * 60 * 1000;
    const refreshed = await Promise.all(['5', '6'].map((id) => source.createRunnerCredential(job(id), runner(id), fleet)));
    expect(github.calls).toHaveLength(2);
    expect(refreshed.map((value) => JSON.parse(value.value).token)).toEqual(['token-2', 'token-2']);
  });

  it('does not keep a failed request: the next runner asks again', async () => {
    const github = fakeOctokit(now);
    const source = new GitHubSource(async () => github.octokit, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, { now });
    github.failOnce();
    await expect(source.createRunnerCredential(job('1'), runner('1'), fleet)).rejects.toThrow('Bad credentials');
    await expect(source.createRunnerCredential(job('2'), runner('2'), fleet)).resolves.toMatchObject({
      value: expect.stringContaining('token-2'),
    });
  });
});
