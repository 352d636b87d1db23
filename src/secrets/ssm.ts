import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { CredentialOwner, CredentialStore, RunnerParameter, RunnerParameterStore } from './types.js';

/**
 * Every runner credential lives under this path, one level per fleet: `/fleetbot/runners/<fleet>/<runner>`.
 * A fleet's runner role may read and delete `<fleet>/*` only, which no other fleet's name can match.
 */
const RUNNER_PARAMETER_PATH = '/fleetbot/runners';

const RUNNER_PARAMETER_PREFIX = `${RUNNER_PARAMETER_PATH}/`;
// DescribeParameters returns at most 50 per page; DeleteParameters takes at most 10 names per call.
const DESCRIBE_PAGE = 50;
const DELETE_BATCH = 10;

/** Fleet and runner names are `[A-Za-z0-9._-]`, so each is one level of the SSM hierarchy (of at most 15). */
export function runnerParameterName(fleet: string, runnerName: string): string {
  return `${RUNNER_PARAMETER_PREFIX}${fleet}/${runnerName}`;
}

/**
 * The runner a listed parameter is for: `<fleet>/<runner>`, or `<runner>` directly under the path as
 * releases before per-fleet paths wrote it (swept until none is left). Anything deeper is not fleetbot's.
 */
function runnerOfParameter(name: string): string | undefined {
  if (!name.startsWith(RUNNER_PARAMETER_PREFIX)) return undefined;
  const levels = name.slice(RUNNER_PARAMETER_PREFIX.length).split('/');
  if (levels.length > 2 || levels.includes('')) return undefined;
  return levels.at(-1);
}

/**
 * Runner credentials as SSM SecureStrings. The runner reads and deletes its own parameter at start;
 * the app deletes it again on completion in case the runner never started.
 */
export class RunnerSecrets implements CredentialStore, RunnerParameterStore {
  constructor(
    private readonly ssm: SSMClient,
    private readonly kmsKeyId?: string,
  ) {}

  async put(runner: CredentialOwner, value: string): Promise<void> {
    await this.ssm.send(
      new PutParameterCommand({
        Name: runnerParameterName(runner.fleet, runner.name),
        Type: 'SecureString',
        Value: value,
        KeyId: this.kmsKeyId,
        // A credential re-issued after a crash replaces the one nobody read.
        Overwrite: true,
        Description: 'fleetbot runner credential, single use',
      }),
    );
  }

  async delete(runner: CredentialOwner): Promise<void> {
    try {
      await this.ssm.send(new DeleteParameterCommand({ Name: runnerParameterName(runner.fleet, runner.name) }));
    } catch (error) {
      // The runner deletes its parameter itself once it has read it.
      if (!(error instanceof ParameterNotFound)) throw error;
    }
  }

  /**
   * Every runner parameter under the path, in either layout, with when it was last written (metadata only,
   * no values). The Recursive path filter returns every level below the path, both layouts in one listing.
   */
  async listRunnerParameters(): Promise<RunnerParameter[]> {
    const parameters: RunnerParameter[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.ssm.send(
        new DescribeParametersCommand({
          ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: [RUNNER_PARAMETER_PATH] }],
          MaxResults: DESCRIBE_PAGE,
          NextToken: nextToken,
        }),
      );
      for (const { Name: name, LastModifiedDate: modified } of page.Parameters ?? []) {
        const runnerName = name === undefined ? undefined : runnerOfParameter(name);
        if (name === undefined || runnerName === undefined || !modified) continue;
        parameters.push({ name, runnerName, lastModifiedAt: modified.getTime() });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return parameters;
  }

  /** Deletes the parameters by name, ten per call; returns how many existed. Missing ones are no error. */
  async deleteRunnerParameters(parameterNames: readonly string[]): Promise<number> {
    let deleted = 0;
    for (let start = 0; start < parameterNames.length; start += DELETE_BATCH) {
      const names = parameterNames.slice(start, start + DELETE_BATCH);
      // Names that no longer exist come back in InvalidParameters rather than as an error.
      const result = await this.ssm.send(new DeleteParametersCommand({ Names: names }));
      deleted += result.DeletedParameters?.length ?? 0;
    }
    return deleted;
  }
}
