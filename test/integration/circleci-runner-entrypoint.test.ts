import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  EntrypointSsm,
  entrypointOf,
  recordedLines,
  runScript,
  stubDirectory,
  uniqueParameterName as parameterNameFor,
} from '../helpers/runner-entrypoint-harness.js';
import { describeWithMotoAndTools } from '../helpers/tools.js';

/**
 * The CircleCI runner image's entrypoint, run for real against moto through the aws CLI, with a fake
 * `circleci-runner` on PATH that records its arguments and environment (the token only as a hash).
 */

const ENTRYPOINT = entrypointOf('circleci-runner');

/** Writes `args` (one per line), `env` (CIRCLECI_RUNNER_* but the token), `token.sha256` and whether the parameter still existed. */
const FAKE_AGENT = `#!/bin/sh
out="$FAKE_AGENT_OUT"
for arg in "$@"; do printf '%s\\n' "$arg" >>"$out/args"; done
env | grep '^CIRCLECI_RUNNER_' | grep -v '^CIRCLECI_RUNNER_API_AUTH_TOKEN=' | sort >"$out/env"
printf '%s' "$CIRCLECI_RUNNER_API_AUTH_TOKEN" | sha256sum | cut -d' ' -f1 >"$out/token.sha256"
if aws ssm get-parameter --name "$FLEETBOT_RUNNER_CONFIG_PARAM" >/dev/null 2>&1; then
  echo present >"$out/parameter-when-agent-started"
else
  echo absent >"$out/parameter-when-agent-started"
fi
`;

describeWithMotoAndTools('CircleCI runner image entrypoint', ['aws', 'jq', 'sha256sum'], () => {
  const fixture = EntrypointSsm.forSuite();
  let workDir: string;

  beforeEach(async () => {
    workDir = await stubDirectory('fleetbot-circleci-entrypoint-', { 'circleci-runner': FAKE_AGENT });
  });
  afterEach(() => rm(workDir, { recursive: true, force: true }));

  const uniqueParameterName = () => parameterNameFor('cci');
  const resourceClassToken = () => randomBytes(40).toString('hex');
  const putConfig = (name: string, value: string) => fixture.putConfig(name, value);
  const parameterExists = (name: string) => fixture.parameterExists(name);

  /** `whenWaiting` runs once the entrypoint says it waits for its parameter. */
  function runEntrypoint(env: Record<string, string | undefined>, whenWaiting?: () => Promise<unknown>) {
    let announced = false;
    return runScript(
      ENTRYPOINT,
      { ...fixture.moto.env, PATH: `${workDir}:${process.env.PATH}`, FAKE_AGENT_OUT: workDir, ...env },
      {
        onStderr: (stderr) => {
          if (!announced && whenWaiting && stderr.includes('waiting up to')) {
            announced = true;
            void whenWaiting();
          }
        },
      },
    );
  }

  const recorded = (file: string) => recordedLines(join(workDir, file));
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const configFor = (token: string, name = 'cci-1-abcdef') =>
    JSON.stringify({ token, name, url: 'https://runner.circleci.com', resourceClass: 'acme/linux' });

  it('starts the agent in single-task mode with the token, name and url, after deleting the parameter', async () => {
    const name = uniqueParameterName();
    const token = resourceClassToken();
    await putConfig(name, configFor(token, 'cci-42-ab12cd'));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name, CIRCLECI_RUNNER_IDLE_TIMEOUT: undefined });

    expect(result).toMatchObject({ code: 0 });
    expect(await recorded('args')).toEqual(['machine']);
    expect(await recorded('env')).toEqual([
      'CIRCLECI_RUNNER_API_URL=https://runner.circleci.com',
      'CIRCLECI_RUNNER_IDLE_TIMEOUT=5m',
      'CIRCLECI_RUNNER_MODE=single-task',
      'CIRCLECI_RUNNER_NAME=cci-42-ab12cd',
    ]);
    expect(await recorded('token.sha256')).toEqual([sha256(token)]);
    expect(await recorded('parameter-when-agent-started')).toEqual(['absent']);
    expect(await parameterExists(name)).toBe(false);
    expect(result.stderr).toContain('starting CircleCI runner cci-42-ab12cd for acme/linux (single-task, idle timeout 5m)');
    expect(result.stdout + result.stderr).not.toContain(token);
  });

  it('passes a chosen idle timeout, and refuses one that is not a duration', async () => {
    const name = uniqueParameterName();
    await putConfig(name, configFor(resourceClassToken()));
    expect(await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name, CIRCLECI_RUNNER_IDLE_TIMEOUT: '90s' })).toMatchObject({ code: 0 });
    expect(await recorded('env')).toContain('CIRCLECI_RUNNER_IDLE_TIMEOUT=90s');

    const refused = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: uniqueParameterName(), CIRCLECI_RUNNER_IDLE_TIMEOUT: 'soon' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('CIRCLECI_RUNNER_IDLE_TIMEOUT must be a duration');
  });

  it('waits for a parameter written after the container starts', async () => {
    const name = uniqueParameterName();
    const token = resourceClassToken();
    const result = await runEntrypoint(
      { FLEETBOT_RUNNER_CONFIG_PARAM: name, FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1', FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '20' },
      () => putConfig(name, configFor(token)),
    );

    expect(result).toMatchObject({ code: 0 });
    expect(result.stderr).toContain(`waiting up to 20s for SSM parameter ${name}`);
    expect(await recorded('token.sha256')).toEqual([sha256(token)]);
    expect(await parameterExists(name)).toBe(false);
  });

  it("refuses a config without the agent's fields, without quoting it", async () => {
    const name = uniqueParameterName();
    const token = resourceClassToken();
    await putConfig(name, JSON.stringify({ token, name: 'cci-1-abcdef' }));

    const result = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: name });

    expect(result.code).toBe(4);
    expect(result.stderr).toContain(name);
    expect(await recorded('args')).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(token);
  });

  it('gives up with exit 3 when the parameter never appears, and exits 2 without FLEETBOT_RUNNER_CONFIG_PARAM', async () => {
    const name = uniqueParameterName();
    const never = await runEntrypoint({
      FLEETBOT_RUNNER_CONFIG_PARAM: name,
      FLEETBOT_RUNNER_CONFIG_POLL_SECONDS: '1',
      FLEETBOT_RUNNER_CONFIG_WAIT_SECONDS: '2',
    });
    expect(never.code).toBe(3);
    expect(never.stderr).toContain(`SSM parameter ${name} did not appear within 2s`);

    const unset = await runEntrypoint({ FLEETBOT_RUNNER_CONFIG_PARAM: undefined });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('FLEETBOT_RUNNER_CONFIG_PARAM must name the SSM parameter');
    expect(await recorded('args')).toEqual([]);
  });
});
