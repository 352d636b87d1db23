import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startMoto, type Moto } from '../helpers/moto.js';
import { describeWithMotoAndTools } from '../helpers/tools.js';

/**
 * The runner image's entrypoint, run for real against moto through the aws CLI, with stub
 * run.sh / config.sh standing in for the GitHub runner.
 */

const ENTRYPOINT = fileURLToPath(new URL('../../images/github-runner/entrypoint.sh', import.meta.url));

/**
 * Each stub appends its name, then its arguments, then the runner inputs it was given in its
 * environment (as `env:NAME=value`), one per line, to calls.log. run.sh also records whether the SSM
 * parameter still existed when the runner started.
 */
const STUB_LOG_CALL = `log="$RUNNER_HOME/calls.log"
basename "$0" >>"$log"
for arg in "$@"; do printf '%s\\n' "$arg" >>"$log"; done
env | grep '^ACTIONS_RUNNER_INPUT_' | sort | sed 's/^/env:/' >>"$log" || true
`;
const CONFIG_STUB = `#!/bin/sh\n${STUB_LOG_CALL}`;
const RUN_STUB = `#!/bin/sh
if aws ssm get-parameter --name "$FLEETBOT_RUNNER_CONFIG_PARAM" >/dev/null 2>&1; then
  echo present >"$RUNNER_HOME/parameter-when-run-started"
else
  echo absent >"$RUNNER_HOME/parameter-when-run-started"
fi
${STUB_LOG_CALL}`;

interface EntrypointResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

const RUN_TIMEOUT_MS = 25_000;

describeWithMotoAndTools('runner image entrypoint', ['aws', 'jq'], () => {
  let moto: Moto;
  let ssm: SSMClient;
  let runnerHome: string;

  beforeAll(async () => {
    moto = await startMoto();
    ssm = new SSMClient({ endpoint: moto.url, region: moto.env.AWS_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  });

  afterAll(async () => {
    ssm?.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    await moto.reset();
    runnerHome = await mkdtemp(join(tmpdir(), 'fleetbot-runner-home-'));
    await writeFile(join(runnerHome, 'config.sh'), CONFIG_STUB);
    await writeFile(join(runnerHome, 'run.sh'), RUN_STUB);
    await chmod(join(runnerHome, 'config.sh'), 0o755);
    await chmod(join(runnerHome, 'run.sh'), 0o755);
  });

  afterEach(async () => {
    await rm(runnerHome, { recursive: true, force: true });
  });

  const uniqueParameterName = () => `/fleetbot/runners/linux-small-${Date.now()}-${randomBytes(3).toString('hex')}`;

  const putConfig = (name: string, value: string) =>
    ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString' }));

  async function parameterExists(name: string): Promise<boolean> {
    try {
      await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return true;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return false;
      throw error;
    }
  }

  function runEntrypoint(env: Record<string, string | undefined>): Promise<EntrypointResult> {
    const started = Date.now();
    const child = spawn('bash', [ENTRYPOINT], {
      env: { ...process.env, AWS_PROFILE: undefined, ...moto.env, RUNNER_HOME: runnerHome, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`entrypoint still running after ${RUN_TIMEOUT_MS} ms; stderr so far:\n${stderr}`));
      }, RUN_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
      });
    });
  }

  async function recordedCalls(): Promise<string[]> {
    const log = join(runnerHome, 'calls.log');
    if (!existsSync(log)) return [];
    return (await readFile(log, 'utf8')).trimEnd().split('\n');
  }

  const parameterWhenRunStarted = async () =>
    (await readFile(join(runnerHome, 'parameter-when-run-started'), 'utf8')).trim();

  function expectNotLeaked(result: EntrypointResult, ...secrets: string[]): void {
    for (const secret of secrets) {
      expect(result.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret);
    }
  }

  const jitConfig = () => randomBytes(96).toString('base64');
  const registrationToken = () => `A${randomBytes(20).toString('hex').toUpperCase()}`;

  it('starts run.sh with the JIT config and deletes the parameter before the runner starts', async () => {
    const name = uniqueParameterName();
    const value = jitConfig();
    await putConfig(name, value);

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result).toMatchObject({ code: 0 });
    // In the environment, not in argv, where any process could read it.
    expect(await recordedCalls()).toEqual(['run.sh', `env:ACTIONS_RUNNER_INPUT_JITCONFIG=${value}`]);
    expect(await parameterWhenRunStarted()).toBe('absent');
    expect(await parameterExists(name)).toBe(false);
    expectNotLeaked(result, value);
  });

  it('registers with config.sh from a JSON config, then starts run.sh', async () => {
    const name = uniqueParameterName();
    const token = registrationToken();
    const value = JSON.stringify({
      url: 'https://github.com/acme',
      token,
      name: 'linux-small-42-ab12cd',
      labels: ['self-hosted', 'linux'],
      runnerGroup: 'Default',
    });
    await putConfig(name, `  ${value}`);

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result).toMatchObject({ code: 0 });
    expect(await recordedCalls()).toEqual([
      'config.sh',
      '--unattended',
      '--ephemeral',
      '--disableupdate',
      '--replace',
      '--url',
      'https://github.com/acme',
      '--name',
      'linux-small-42-ab12cd',
      '--labels',
      'self-hosted,linux',
      '--runnergroup',
      'Default',
      '--work',
      '_work',
      `env:ACTIONS_RUNNER_INPUT_TOKEN=${token}`,
      'run.sh',
    ]);
    expect(await parameterWhenRunStarted()).toBe('absent');
    expect(await parameterExists(name)).toBe(false);
    expectNotLeaked(result, token);
  });

  it('leaves out --runnergroup when the JSON config has no runnerGroup', async () => {
    const name = uniqueParameterName();
    const token = registrationToken();
    await putConfig(
      name,
      JSON.stringify({ url: 'https://github.com/acme/app', token, name: 'linux-small-7-ff00aa', labels: ['linux'] }),
    );

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result).toMatchObject({ code: 0 });
    const calls = await recordedCalls();
    expect(calls).not.toContain('--runnergroup');
    expect(calls.slice(calls.indexOf('--labels'))).toEqual(['--labels', 'linux', '--work', '_work', `env:ACTIONS_RUNNER_INPUT_TOKEN=${token}`, 'run.sh']);
    expectNotLeaked(result, token);
  });

  it('refuses a JSON config that lacks the registration fields, without quoting it', async () => {
    const name = uniqueParameterName();
    const token = registrationToken();
    await putConfig(name, JSON.stringify({ url: 'https://github.com/acme', token }));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result.code).toBe(4);
    expect(result.stderr).toContain(name);
    expect(await recordedCalls()).toEqual([]);
    expectNotLeaked(result, token);
  });

  it('waits for a parameter that is written after the container starts', async () => {
    const name = uniqueParameterName();
    const value = jitConfig();

    const running = runEntrypoint({
      FLEETBOT_RUNNER_CONFIG_PARAM: name,
      FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1',
      FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '20',
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await putConfig(name, value);
    const result = await running;

    expect(result).toMatchObject({ code: 0 });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(3_000);
    expect(result.stderr).toContain(`waiting up to 20s for SSM parameter ${name}`);
    expect(await recordedCalls()).toEqual(['run.sh', `env:ACTIONS_RUNNER_INPUT_JITCONFIG=${value}`]);
    expect(await parameterExists(name)).toBe(false);
    expectNotLeaked(result, value);
  });

  it('gives up with exit 3, naming the parameter, when it never appears', async () => {
    const name = uniqueParameterName();

    const result = await runEntrypoint({
      FLEETBOT_RUNNER_CONFIG_PARAM: name,
      FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1',
      FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '3',
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`SSM parameter ${name} did not appear within 3s`);
    // Bash counts whole seconds, so a 3 s wait can end a little early; one slow aws call may overrun it.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(2_000);
    expect(result.elapsedMs).toBeLessThan(10_000);
    expect(await recordedCalls()).toEqual([]);
  });

  it('exits 2 with a clear message when FLEETBOT_RUNNER_CONFIG_PARAM is not set', async () => {
    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: undefined });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('FLEETBOT_RUNNER_CONFIG_PARAM must name the SSM parameter');
    expect(await recordedCalls()).toEqual([]);
  });
});
