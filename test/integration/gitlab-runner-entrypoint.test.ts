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
 * The GitLab runner image's entrypoint, run for real against moto through the aws CLI, with a stub
 * `gitlab-runner` first on PATH standing in for the real one.
 */

const ENTRYPOINT = entrypointOf('gitlab-runner');

/** Records its arguments, one per line, and whether the SSM parameter still existed when it started. */
const GITLAB_RUNNER_STUB = `#!/bin/sh
if aws ssm get-parameter --name "$FLEETBOT_RUNNER_CONFIG_PARAM" >/dev/null 2>&1; then
  echo present >"$STUB_DIR/parameter-when-run-started"
else
  echo absent >"$STUB_DIR/parameter-when-run-started"
fi
for arg in "$@"; do printf '%s\\n' "$arg" >>"$STUB_DIR/calls.log"; done
`;

describeWithMotoAndTools('GitLab runner image entrypoint', ['aws', 'jq'], () => {
  const fixture = EntrypointSsm.forSuite();
  let stubDir: string;

  beforeEach(async () => {
    stubDir = await stubDirectory('fleetbot-gitlab-runner-', { 'gitlab-runner': GITLAB_RUNNER_STUB });
  });

  afterEach(async () => {
    await rm(stubDir, { recursive: true, force: true });
  });

  const uniqueParameterName = () => parameterNameFor('gl-linux');
  const runnerToken = () => `glrt-${randomBytes(12).toString('hex')}`;
  const putConfig = (name: string, value: string) => fixture.putConfig(name, value);
  const parameterExists = (name: string) => fixture.parameterExists(name);

  /** `onStderr` sees the entrypoint's stderr so far, each time it grows. */
  const runEntrypoint = (env: Record<string, string | undefined>, onStderr?: (stderr: string) => void) =>
    runScript(ENTRYPOINT, { ...fixture.moto.env, STUB_DIR: stubDir, PATH: `${stubDir}:${process.env.PATH}`, ...env }, { onStderr });

  const recordedArgs = () => recordedLines(join(stubDir, 'calls.log'));

  const config = (token: string) =>
    JSON.stringify({
      url: 'https://gitlab.example.com',
      token,
      name: 'gl-linux-gitlab.example.com-1977-ab12cd',
      tags: ['linux', 'docker'],
    });

  it('runs one job with run-single as the fleetbot runner name, after deleting the parameter', async () => {
    const name = uniqueParameterName();
    const token = runnerToken();
    await putConfig(name, config(token));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name, FLEETBOT_GITLAB_JOB_WAIT_SECONDS: '300' });

    expect(result).toMatchObject({ code: 0 });
    expect(await recordedArgs()).toEqual([
      'run-single',
      '--url',
      'https://gitlab.example.com',
      '--token',
      token,
      '--description',
      'gl-linux-gitlab.example.com-1977-ab12cd',
      '--executor',
      'shell',
      '--max-builds',
      '1',
      '--wait-timeout',
      '300',
    ]);
    expect((await readFile(join(stubDir, 'parameter-when-run-started'), 'utf8')).trim()).toBe('absent');
    expect(await parameterExists(name)).toBe(false);
    expect(result.stderr).toContain('fleet tags: linux,docker');
    expectNotLeaked(result, token);
  });

  it('uses the docker executor with its default image when configured', async () => {
    const name = uniqueParameterName();
    const token = runnerToken();
    await putConfig(name, config(token));

    const result = await runEntrypoint({
      FLEETBOT_RUNNER_CONFIG_PARAM: name,
      FLEETBOT_GITLAB_EXECUTOR: 'docker',
      FLEETBOT_GITLAB_DOCKER_IMAGE: 'alpine:3.22',
    });

    expect(result).toMatchObject({ code: 0 });
    const args = await recordedArgs();
    expect(args.slice(args.indexOf('--executor'))).toEqual([
      '--executor',
      'docker',
      '--max-builds',
      '1',
      '--wait-timeout',
      '600',
      '--docker-image',
      'alpine:3.22',
    ]);
    expectNotLeaked(result, token);
  });

  it('waits for a parameter that is written after the container starts', async () => {
    const name = uniqueParameterName();
    const token = runnerToken();

    // The parameter is written only once the entrypoint has found it missing, however slow aws starts.
    let written: Promise<unknown> | undefined;
    const result = await runEntrypoint(
      { FLEETBOT_RUNNER_CONFIG_PARAM: name, FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1', FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '20' },
      (stderr) => {
        if (!written && stderr.includes('waiting up to')) written = putConfig(name, config(token));
      },
    );
    await written;

    expect(result).toMatchObject({ code: 0 });
    expect(result.stderr).toContain(`waiting up to 20s for SSM parameter ${name}`);
    expect(await recordedArgs()).toContain(token);
    expect(await parameterExists(name)).toBe(false);
    expectNotLeaked(result, token);
  });

  it('refuses a config without the fields run-single needs, without quoting it (exit 4)', async () => {
    const name = uniqueParameterName();
    const token = runnerToken();
    await putConfig(name, JSON.stringify({ token, name: 'gl-linux-1' }));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result.code).toBe(4);
    expect(result.stderr).toContain(name);
    expect(await recordedArgs()).toEqual([]);
    expectNotLeaked(result, token);
  });

  it('gives up with exit 3, naming the parameter, when it never appears', async () => {
    const name = uniqueParameterName();

    const result = await runEntrypoint({
      FLEETBOT_RUNNER_CONFIG_PARAM: name,
      FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1',
      FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '2',
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`SSM parameter ${name} did not appear within 2s`);
    expect(await recordedArgs()).toEqual([]);
  });

  it.each([
    [{ FLEETBOT_RUNNER_CONFIG_PARAM: undefined }, 'FLEETBOT_RUNNER_CONFIG_PARAM must name the SSM parameter'],
    [{ FLEETBOT_GITLAB_EXECUTOR: 'kubernetes' }, 'FLEETBOT_GITLAB_EXECUTOR must be shell or docker'],
    [{ FLEETBOT_GITLAB_EXECUTOR: 'docker' }, 'FLEETBOT_GITLAB_DOCKER_IMAGE must name the default job image'],
    [{ FLEETBOT_GITLAB_JOB_WAIT_SECONDS: '0' }, 'FLEETBOT_GITLAB_JOB_WAIT_SECONDS must be a positive whole number'],
  ])('exits 2 with a clear message for invalid settings %o', async (env, message) => {
    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: uniqueParameterName(), ...env });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await recordedArgs()).toEqual([]);
  });
});
