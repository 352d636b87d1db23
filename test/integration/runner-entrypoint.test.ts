import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  EntrypointSsm,
  entrypointOf,
  expectNotLeaked,
  recordedLines,
  runScript,
  stubDirectory,
  uniqueParameterName as parameterNameFor,
} from '../helpers/runner-entrypoint-harness.js';
import { describeWithMotoAndTools } from '../helpers/tools.js';

/**
 * The runner image's entrypoint, run for real against moto through the aws CLI, with stub
 * run.sh / config.sh standing in for the GitHub runner.
 */

const ENTRYPOINT = entrypointOf('github-runner');

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

describeWithMotoAndTools('runner image entrypoint', ['aws', 'jq'], () => {
  const fixture = EntrypointSsm.forSuite();
  let runnerHome: string;

  beforeEach(async () => {
    await fixture.moto.reset();
    runnerHome = await stubDirectory('fleetbot-runner-home-', { 'config.sh': CONFIG_STUB, 'run.sh': RUN_STUB });
  });

  afterEach(async () => {
    await rm(runnerHome, { recursive: true, force: true });
  });

  const uniqueParameterName = () => parameterNameFor('linux-small');
  const putConfig = (name: string, value: string) => fixture.putConfig(name, value);
  const parameterExists = (name: string) => fixture.parameterExists(name);

  const runEntrypoint = (env: Record<string, string | undefined>) =>
    runScript(ENTRYPOINT, { ...fixture.moto.env, RUNNER_HOME: runnerHome, ...env });

  const recordedCalls = () => recordedLines(join(runnerHome, 'calls.log'));

  const parameterWhenRunStarted = async () => (await readFile(join(runnerHome, 'parameter-when-run-started'), 'utf8')).trim();

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

  it('reads a parameter written before per-fleet paths when that is the name it is given', async () => {
    // A task launched by the release before was given the old name; the entrypoint takes any name whole.
    const name = uniqueParameterName().replace('/linux-small/', '/');
    expect(name).toMatch(/^\/fleetbot\/runners\/linux-small-\d+-\w+$/);
    const value = jitConfig();
    await putConfig(name, value);

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result).toMatchObject({ code: 0 });
    expect(await recordedCalls()).toEqual(['run.sh', `env:ACTIONS_RUNNER_INPUT_JITCONFIG=${value}`]);
    expect(await parameterExists(name)).toBe(false);
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
    await putConfig(name, JSON.stringify({ url: 'https://github.com/acme/app', token, name: 'linux-small-7-ff00aa', labels: ['linux'] }));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result).toMatchObject({ code: 0 });
    const calls = await recordedCalls();
    expect(calls).not.toContain('--runnergroup');
    expect(calls.slice(calls.indexOf('--labels'))).toEqual([
      '--labels',
      'linux',
      '--work',
      '_work',
      `env:ACTIONS_RUNNER_INPUT_TOKEN=${token}`,
      'run.sh',
    ]);
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
