import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startMoto, type Moto } from '../helpers/moto.js';
import { recordedLines, runScript as runBootScript, type EntrypointResult as ScriptResult } from '../helpers/runner-entrypoint-harness.js';
import { describeWithMotoAndTools } from '../helpers/tools.js';

/**
 * The EC2 runner boot script, run for real: the aws CLI against moto for SSM, a fake IMDSv2 server for
 * the instance's region and tags, and fakes on PATH for runuser and shutdown/poweroff, so the runner's
 * stub run.sh / config.sh run in a temporary runner directory and nothing powers this machine off.
 */

const SCRIPT = fileURLToPath(new URL('../../images/ec2/runner-user-data.sh', import.meta.url));
// Another region than the SDK clients' default: the script must take its region from IMDS.
const REGION = 'eu-west-1';
const FLEET = 'linux-vm';

interface ImdsRequest {
  method: string;
  path: string;
  status: number;
}

/** IMDSv2 as far as the script uses it: a session token, the region, and instance tags. */
interface FakeImds {
  url: string;
  requests: ImdsRequest[];
  /** Sets the instance's fleetbot:runner and fleetbot:fleet tags, as fleetbot's CreateTags would; no fleet leaves that one out. */
  tag(runnerName: string, fleet?: string | null): void;
  close(): Promise<void>;
}

async function startFakeImds(): Promise<FakeImds> {
  const token = randomBytes(16).toString('hex');
  const requests: ImdsRequest[] = [];
  let runnerTag: string | undefined;
  let fleetTag: string | undefined;
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '';
    const answer = (status: number, body = '') => {
      requests.push({ method: request.method ?? '', path, status });
      response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    };
    if (request.method === 'PUT' && path === '/latest/api/token') {
      return request.headers['x-aws-ec2-metadata-token-ttl-seconds'] ? answer(200, token) : answer(400);
    }
    if (request.method !== 'GET') return answer(405);
    // IMDSv2 only, as the launch template requires.
    if (request.headers['x-aws-ec2-metadata-token'] !== token) return answer(401);
    if (path === '/latest/meta-data/placement/region') return answer(200, REGION);
    if (path === '/latest/meta-data/tags/instance/fleetbot:runner') return runnerTag === undefined ? answer(404) : answer(200, runnerTag);
    if (path === '/latest/meta-data/tags/instance/fleetbot:fleet') return fleetTag === undefined ? answer(404) : answer(200, fleetTag);
    return answer(404);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    tag: (runnerName, fleet = FLEET) => {
      runnerTag = runnerName;
      fleetTag = fleet ?? undefined;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describeWithMotoAndTools('EC2 runner boot script', ['aws', 'curl', 'jq'], () => {
  let moto: Moto;
  let ssm: SSMClient;
  let imds: FakeImds;
  let root: string;
  let runnerDir: string;
  let callsLog: string;

  beforeAll(async () => {
    moto = await startMoto();
    ssm = new SSMClient({ endpoint: moto.url, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  });

  afterAll(async () => {
    ssm?.destroy();
    await moto?.stop();
  });

  /** Each fake appends its name, its arguments and the runner inputs in its environment (`env:NAME=value`), one per line, to calls.log. */
  const logCall = () =>
    `{ basename "$0"; for arg in "$@"; do printf '%s\\n' "$arg"; done; env | grep '^ACTIONS_RUNNER_INPUT_' | sort | sed 's/^/env:/'; } >>"${callsLog}"\n`;

  async function writeExecutable(path: string, body: string): Promise<void> {
    await writeFile(path, `#!/bin/sh\n${body}`);
    await chmod(path, 0o755);
  }

  beforeEach(async () => {
    await moto.reset();
    imds = await startFakeImds();
    root = await mkdtemp(join(tmpdir(), 'fleetbot-ec2-boot-'));
    callsLog = join(root, 'calls.log');
    runnerDir = join(root, 'actions-runner');
    await mkdir(join(root, 'bin'));
    await mkdir(runnerDir);
    await writeExecutable(join(root, 'bin', 'shutdown'), logCall());
    await writeExecutable(join(root, 'bin', 'poweroff'), logCall());
    await writeExecutable(
      join(root, 'bin', 'runuser'),
      `[ "$1" = -u ] && [ "$3" = -- ] || { echo "fake runuser: expected -u <user> -- <command>" >&2; exit 64; }
printf 'runuser\\n-u\\n%s\\n--\\n' "$2" >>"${callsLog}"
shift 3
exec "$@"
`,
    );
    await writeExecutable(join(runnerDir, 'config.sh'), logCall());
    // Records whether the credential was still in SSM when the runner started; FAKE_RUN_EXIT is its exit code.
    await writeExecutable(
      join(runnerDir, 'run.sh'),
      `if aws ssm get-parameter --name "$FAKE_RUNNER_PARAM" >/dev/null 2>&1; then state=present; else state=absent; fi
echo "$state" >"${join(root, 'parameter-when-run-started')}"
${logCall()}exit "\${FAKE_RUN_EXIT:-0}"
`,
    );
  });

  afterEach(async () => {
    await imds.close();
    await rm(root, { recursive: true, force: true });
  });

  const runnerName = () => `${FLEET}-${Date.now()}-${randomBytes(3).toString('hex')}`;
  const parameterOf = (runner: string) => `/fleetbot/runners/${FLEET}/${runner}`;
  const jitConfig = () => randomBytes(96).toString('base64');

  const putConfig = (runner: string, value: string, name = parameterOf(runner)) =>
    ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString' }));

  async function parameterExists(runner: string): Promise<boolean> {
    try {
      await ssm.send(new GetParameterCommand({ Name: parameterOf(runner), WithDecryption: true }));
      return true;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return false;
      throw error;
    }
  }

  function runScript(runner: string, env: Record<string, string> = {}): Promise<ScriptResult> {
    return runBootScript(
      SCRIPT,
      {
        ...moto.env,
        AWS_REGION: undefined,
        AWS_DEFAULT_REGION: undefined,
        PATH: `${join(root, 'bin')}:${process.env.PATH}`,
        FLEETBOT_IMDS_URL: imds.url,
        FLEETBOT_RUNNER_DIR: runnerDir,
        FLEETBOT_RUNNER_USER: 'ci-runner',
        FLEETBOT_RUNNER_POLL_SECONDS: '1',
        FLEETBOT_RUNNER_TAG_WAIT_SECONDS: '20',
        FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '20',
        FAKE_RUNNER_PARAM: parameterOf(runner),
        ...env,
      },
      { what: 'boot script' },
    );
  }

  const recordedCalls = () => recordedLines(callsLog);

  const parameterWhenRunStarted = async () => (await readFile(join(root, 'parameter-when-run-started'), 'utf8')).trim();
  const tagLookups = () => imds.requests.filter((request) => request.path === '/latest/meta-data/tags/instance/fleetbot:runner');

  async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  function expectNotLeaked(result: ScriptResult, secret: string): void {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }

  it('waits for a tag that arrives after boot, then runs the runner once with its JIT config and powers off', async () => {
    const runner = runnerName();
    const value = jitConfig();
    await putConfig(runner, value);

    const running = runScript(runner);
    // The Auto Scaling case: the instance boots untagged and fleetbot tags it when it hands it a runner.
    await until(() => tagLookups().length >= 2, 10_000);
    imds.tag(runner);
    const result = await running;

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('waiting up to 20s for instance tag fleetbot:runner');
    const statuses = tagLookups().map((request) => request.status);
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set([404]));
    expect(statuses.at(-1)).toBe(200);
    // IMDSv2 only: every metadata read carried the session token.
    expect(imds.requests.filter((request) => request.status === 401)).toEqual([]);
    // In the environment, not in argv, where any process could read it.
    expect(await recordedCalls()).toEqual([
      'runuser',
      '-u',
      'ci-runner',
      '--',
      'run.sh',
      `env:ACTIONS_RUNNER_INPUT_JITCONFIG=${value}`,
      'shutdown',
      '-h',
      'now',
    ]);
    expect(await parameterWhenRunStarted()).toBe('absent');
    expect(await parameterExists(runner)).toBe(false);
    expectNotLeaked(result, value);
  });

  it("reads the credential from its fleet's level, waiting for the fleet tag when IMDS shows the runner tag first", async () => {
    const runner = runnerName();
    const value = jitConfig();
    await putConfig(runner, value);
    imds.tag(runner, null);

    const running = runScript(runner);
    const fleetLookups = () => imds.requests.filter((request) => request.path === '/latest/meta-data/tags/instance/fleetbot:fleet');
    await until(() => fleetLookups().length >= 2, 10_000);
    imds.tag(runner);
    const result = await running;

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('waiting up to 20s for instance tag fleetbot:fleet');
    expect(fleetLookups().at(-1)?.status).toBe(200);
    expect((await recordedCalls()).slice(0, 6)).toEqual([
      'runuser',
      '-u',
      'ci-runner',
      '--',
      'run.sh',
      `env:ACTIONS_RUNNER_INPUT_JITCONFIG=${value}`,
    ]);
    expect(await parameterExists(runner)).toBe(false);
    expectNotLeaked(result, value);
  });

  it('starts at once on an instance launched with its tag, registering from a registration-token JSON', async () => {
    const runner = runnerName();
    const token = `A${randomBytes(20).toString('hex').toUpperCase()}`;
    await putConfig(runner, JSON.stringify({ url: 'https://github.com/acme', token, name: runner, labels: ['self-hosted', 'linux'] }));
    imds.tag(runner);

    const result = await runScript(runner);

    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('waiting');
    expect(tagLookups()).toHaveLength(1);
    const calls = await recordedCalls();
    expect(calls.slice(0, 5)).toEqual(['runuser', '-u', 'ci-runner', '--', 'config.sh']);
    expect(calls.slice(5, calls.indexOf('runuser', 1)).join(' ')).toBe(
      `--unattended --ephemeral --disableupdate --replace --work _work --url https://github.com/acme --name ${runner} --labels self-hosted,linux env:ACTIONS_RUNNER_INPUT_TOKEN=${token}`,
    );
    expect(calls.slice(calls.indexOf('runuser', 1))).toEqual(['runuser', '-u', 'ci-runner', '--', 'run.sh', 'shutdown', '-h', 'now']);
    expect(await parameterExists(runner)).toBe(false);
    expectNotLeaked(result, token);
  });

  it('gives up with exit 2 when no tag arrives within the wait, and powers off without starting a runner', async () => {
    const runner = runnerName();
    const value = jitConfig();
    await putConfig(runner, value);

    const result = await runScript(runner, { FLEETBOT_RUNNER_TAG_WAIT_SECONDS: '2' });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: instance tag fleetbot:runner did not appear within 2s');
    // Bash counts whole seconds, so a 2 s wait can end a little early.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1_000);
    expect(result.elapsedMs).toBeLessThan(10_000);
    expect(await recordedCalls()).toEqual(['shutdown', '-h', 'now']);
    // Nobody's credential was touched.
    expect(await parameterExists(runner)).toBe(true);
    expectNotLeaked(result, value);
  });

  describe('powers off on every exit path', () => {
    const cases: {
      path: string;
      code: number;
      message: string;
      prepare: (runner: string, value: string) => Promise<Record<string, string>>;
    }[] = [
      {
        path: 'a setting that is not a number',
        code: 1,
        message: 'FLEETBOT_RUNNER_POLL_SECONDS must be a whole number of seconds',
        prepare: async () => ({ FLEETBOT_RUNNER_POLL_SECONDS: 'soon' }),
      },
      {
        path: 'a tag that is not a runner name',
        code: 2,
        message: 'instance tag fleetbot:runner is not a runner name',
        prepare: async () => {
          imds.tag('../../etc');
          return {};
        },
      },
      {
        path: 'a fleet tag that is not a fleet name',
        code: 2,
        message: 'instance tag fleetbot:fleet is not a fleet name',
        prepare: async (runner) => {
          imds.tag(runner, '../other');
          return {};
        },
      },
      {
        path: 'a runner tag without its fleet tag',
        code: 2,
        message: 'error: instance tag fleetbot:fleet did not appear within 2s',
        prepare: async (runner, value) => {
          imds.tag(runner, null);
          await putConfig(runner, value);
          return { FLEETBOT_RUNNER_TAG_WAIT_SECONDS: '2' };
        },
      },
      {
        path: 'a credential that never arrives',
        code: 3,
        message: `could not read SSM parameter /fleetbot/runners/${FLEET}/`,
        prepare: async (runner) => {
          imds.tag(runner);
          return { FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '2' };
        },
      },
      {
        // Only the layout before per-fleet paths, which the instance role no longer reaches.
        path: 'a credential directly under /fleetbot/runners/',
        code: 3,
        message: `could not read SSM parameter /fleetbot/runners/${FLEET}/`,
        prepare: async (runner, value) => {
          imds.tag(runner);
          await putConfig(runner, value, `/fleetbot/runners/${runner}`);
          return { FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '2' };
        },
      },
      {
        path: 'no runner installed',
        code: 4,
        message: 'no GitHub Actions runner at',
        prepare: async (runner, value) => {
          imds.tag(runner);
          await putConfig(runner, value);
          await rm(join(runnerDir, 'run.sh'));
          return {};
        },
      },
      {
        path: 'a runner that fails',
        code: 7,
        message: 'exiting with 7; powering off',
        prepare: async (runner, value) => {
          imds.tag(runner);
          await putConfig(runner, value);
          return { FAKE_RUN_EXIT: '7' };
        },
      },
    ];

    it.each(cases)('exits $code on $path', async ({ code, message, prepare }) => {
      const runner = runnerName();
      const value = jitConfig();
      const env = await prepare(runner, value);

      const result = await runScript(runner, env);

      expect(result.code).toBe(code);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain(`exiting with ${code}; powering off`);
      expect((await recordedCalls()).slice(-3)).toEqual(['shutdown', '-h', 'now']);
      expectNotLeaked(result, value);
    });
  });

  it('falls back to poweroff when shutdown fails', async () => {
    const runner = runnerName();
    await writeExecutable(join(root, 'bin', 'shutdown'), `${logCall()}exit 1\n`);
    imds.tag(runner);
    await putConfig(runner, jitConfig());

    const result = await runScript(runner);

    expect(result.code).toBe(0);
    expect((await recordedCalls()).slice(-4)).toEqual(['shutdown', '-h', 'now', 'poweroff']);
  });
});
