import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { createOperatorCommands } from '../../../src/cli/operator-commands.js';
import { viewSource } from '../../../src/cli/operator-source.js';
import type { JobView, RunnerView, StatusView } from '../../../src/operator/types.js';
import { captureContext, type CapturedContext } from './cli-context.js';
import { FakeOperatorView, NOW, startFakeApi } from './fake-operator-view.js';

const TOKEN = 'dashboard-token-for-tests';

/** The five commands over a fake view (store mode) and the same view behind a fake API (--url mode). */
function setup() {
  const view = new FakeOperatorView();
  let closed = 0;
  const table = createOperatorCommands({
    openStore: async () => viewSource(view, async () => void closed++),
    now: () => NOW,
  });
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; context: CapturedContext }> => {
    const context = captureContext('/tmp', env);
    return { code: await main(argv, context, table), context };
  };
  return { view, run, closed: () => closed };
}

describe('fleetbot status, jobs, runners, drain, undrain (store mode, a fake view)', () => {
  it('status prints the fleets, the runners and the task passes as tables, and closes the store', async () => {
    const { run, closed } = setup();
    const { code, context } = await run(['status']);
    expect(code).toBe(EXIT.ok);
    const lines = context.stdout().split('\n');
    expect(lines[0]).toMatch(/^FLEET +CI +COMPUTE +STATE +ACTIVE +WARM +BACKLOG$/);
    expect(lines[1]).toMatch(/^linux-small +github +ecs +serving +2\/10 +1 +3$/);
    expect(lines[2]).toMatch(/^gitlab-docker +gitlab +ec2 +full +10\/10 +0 +3$/);
    expect(context.stdout()).toMatch(/^fb-linux-1 +linux-small +running +2m05s +ecs +spot +job-of-fb-linux-1$/m);
    expect(context.stdout()).toMatch(/^fb-gitlab-1 +gitlab-docker +launching \(warm\) +2m05s +ecs +on-demand/m);
    expect(context.stdout()).toMatch(/^reconcile +10s ago +2s +host:1:abcd +ok: 0 lost$/m);
    expect(closed()).toBe(1);
  });

  it('status --json is the StatusView itself', async () => {
    const { run, view } = setup();
    const { code, context } = await run(['status', '--json']);
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(context.stdout()) as StatusView).toEqual(await view.status());
  });

  it('jobs passes --fleet, --state, --ci, --since and --limit to the view', async () => {
    const { run, view } = setup();
    const { code, context } = await run([
      'jobs',
      '--fleet',
      'linux-small',
      '--state',
      'launched',
      '--ci',
      'github',
      '--since',
      '2h',
      '--limit',
      '5',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(view.queries).toEqual([{ fleet: 'linux-small', status: 'launched', ci: 'github', since: NOW - 2 * 3_600_000, limit: 5 }]);
    expect(context.stdout()).toMatch(/^JOB +FLEET +STATE +RECEIVED +WAIT +RUNNER +COST +LABELS$/m);
    expect(context.stdout()).toMatch(/^github:101 +linux-small +launched +2026-12-05T05:30:00Z +41s +runner-101 +- +self-hosted,linux$/m);
    expect(context.stdout().split('\n')).toHaveLength(2);
  });

  it('jobs --since takes an ISO time, and defaults to 200 jobs', async () => {
    const { run, view } = setup();
    const { context } = await run(['jobs', '--since', '2026-12-04T00:00:00Z', '--json']);
    expect(view.queries[0]).toEqual({ since: Date.parse('2026-12-04T00:00:00Z'), limit: 200 });
    expect((JSON.parse(context.stdout()) as JobView[]).map((entry) => entry.jobId)).toEqual(['101', '102', '103']);
  });

  it.each([
    [['jobs', '--since', '2 hours'], '--since "2 hours" is neither a span like 30m, 2h or 1d nor an ISO time'],
    [['jobs', '--since', '5w'], '--since "5w" is neither'],
    [['jobs', '--state', 'running'], '--state "running" is not one of waiting, launching, launched, completed, abandoned, unmatched'],
    [['jobs', '--ci', 'jenkins'], '--ci "jenkins" is not one of github, gitlab, circleci'],
    [['jobs', '--limit', '0'], '--limit "0" is not a whole number from 1 to 1000'],
    [['jobs', '--limit', 'ten'], '--limit "ten" is not a whole number'],
    [['runners', 'extra'], 'unexpected argument "extra"'],
    [['drain'], 'drain takes one fleet name'],
    [['undrain', 'a', 'b'], 'undrain takes one fleet name'],
    [['status', '--token', 'x'], '--token goes with --url'],
    [['status', '--url', 'ftp://app'], '--url "ftp://app" is not an http(s) URL'],
  ])('%j is a usage error (exit 2) naming the value', async (argv, message) => {
    const { run, view } = setup();
    const { code, context } = await run(argv);
    expect(code).toBe(EXIT.usage);
    expect(context.stderr()).toContain(message);
    expect(view.queries).toEqual([]);
  });

  it('runners --fleet shows that fleet only; an empty answer says so', async () => {
    const { run } = setup();
    const { context } = await run(['runners', '--fleet', 'linux-small', '--json']);
    expect((JSON.parse(context.stdout()) as RunnerView[]).map((entry) => entry.name)).toEqual(['fb-linux-1']);
    const none = await run(['runners', '--fleet', 'nobody']);
    expect(none.context.stdout()).toBe('No active runners.');
  });

  it('drain and undrain change the fleet once, say when nothing changed, and --json gives { fleet, drained, changed }', async () => {
    const { run, view } = setup();
    expect((await run(['drain', 'linux-small'])).context.stdout()).toBe('linux-small: drained');
    expect((await run(['drain', 'linux-small'])).context.stdout()).toBe('linux-small: already drained; nothing changed');
    const undrained = await run(['undrain', 'linux-small', '--json']);
    expect(JSON.parse(undrained.context.stdout())).toEqual({ fleet: 'linux-small', drained: false, changed: true });
    expect(view.changes).toEqual(['drain linux-small', 'drain linux-small', 'undrain linux-small']);
  });

  it('an unknown fleet is a usage error (exit 2)', async () => {
    const { run } = setup();
    const { code, context } = await run(['drain', 'nope']);
    expect(code).toBe(EXIT.usage);
    expect(context.stderr()).toContain('no fleet is named "nope"');
  });
});

describe('fleetbot status, jobs, runners, drain, undrain --url (the JSON API)', () => {
  let api: Awaited<ReturnType<typeof startFakeApi>>;
  let view: FakeOperatorView;
  const fromApi = () =>
    createOperatorCommands({ openStore: () => Promise.reject(new Error('--url must not open the store')), now: () => NOW });
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const context = captureContext('/tmp', env);
    return { code: await main(argv, context, fromApi()), context };
  };

  beforeEach(async () => {
    view = new FakeOperatorView();
    api = await startFakeApi(view, TOKEN);
  });
  afterEach(() => api.close());

  it('status asks GET /api/status with the token from FLEETBOT_DASHBOARD_TOKEN', async () => {
    const { code, context } = await run(['status', '--url', `${api.url}/`, '--json'], { FLEETBOT_DASHBOARD_TOKEN: TOKEN });
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(context.stdout())).toEqual(await view.status());
    expect(api.requests).toEqual(['GET /api/status']);
  });

  it('jobs sends fleet, ci, state, since (epoch ms) and limit as query parameters', async () => {
    const { code } = await run([
      'jobs',
      '--url',
      api.url,
      '--token',
      TOKEN,
      '--fleet',
      'gitlab-docker',
      '--ci',
      'gitlab',
      '--state',
      'waiting',
      '--since',
      '1d',
      '--limit',
      '7',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(api.requests).toEqual([`GET /api/jobs?fleet=gitlab-docker&ci=gitlab&state=waiting&since=${NOW - 86_400_000}&limit=7`]);
    expect(view.queries).toEqual([{ fleet: 'gitlab-docker', ci: 'gitlab', status: 'waiting', since: NOW - 86_400_000, limit: 7 }]);
  });

  it('runners --fleet asks GET /api/runners?fleet=', async () => {
    const { context } = await run(['runners', '--url', api.url, '--token', TOKEN, '--fleet', 'gitlab-docker']);
    expect(api.requests).toEqual(['GET /api/runners?fleet=gitlab-docker']);
    expect(context.stdout()).toMatch(/^fb-gitlab-1 +gitlab-docker/m);
  });

  it('drain and undrain POST /api/fleets/:name/drain|undrain', async () => {
    expect((await run(['drain', 'linux-small', '--url', api.url, '--token', TOKEN])).context.stdout()).toBe('linux-small: drained');
    expect((await run(['undrain', 'linux-small', '--url', api.url, '--token', TOKEN])).context.stdout()).toBe('linux-small: undrained');
    expect(api.requests).toEqual(['POST /api/fleets/linux-small/drain', 'POST /api/fleets/linux-small/undrain']);
  });

  it("an unknown fleet is the API's 404, a usage error (exit 2) with its message", async () => {
    const { code, context } = await run(['drain', 'nope', '--url', api.url, '--token', TOKEN]);
    expect(code).toBe(EXIT.usage);
    expect(context.stderr()).toContain('no fleet is named "nope"');
  });

  it('without a token, or with a wrong one, the 401 is a failure (exit 1) saying how to give one', async () => {
    const without = await run(['status', '--url', api.url]);
    expect(without.code).toBe(EXIT.failed);
    expect(without.context.stderr()).toContain('answered 401: no token was given; pass --token or set FLEETBOT_DASHBOARD_TOKEN');
    const wrong = await run(['status', '--url', api.url, '--token', 'wrong']);
    expect(wrong.code).toBe(EXIT.failed);
    expect(wrong.context.stderr()).toContain('answered 401: the app does not accept this token');
    expect(wrong.context.stderr()).not.toContain('wrong');
  });

  it('an answer that is not JSON is a failure (exit 1) asking whether --url is the app', async () => {
    const page = await startFakeApi(view, TOKEN, '<html>sign in</html>');
    try {
      const { code, context } = await run(['status', '--url', page.url, '--token', TOKEN]);
      expect(code).toBe(EXIT.failed);
      expect(context.stderr()).toContain(`${page.url}/api/status answered 200 with something other than JSON: is --url the app's address?`);
    } finally {
      await page.close();
    }
  });

  it('an app that cannot be reached is a failure (exit 1) naming it', async () => {
    await api.close();
    const { code, context } = await run(['status', '--url', api.url, '--token', TOKEN]);
    expect(code).toBe(EXIT.failed);
    expect(context.stderr()).toContain(`cannot reach ${api.url}`);
    api = await startFakeApi(view, TOKEN);
  });
});
