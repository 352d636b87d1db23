import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { CredentialStore, RunnerParameter, RunnerParameterStore } from './types.js';

/** Every runner credential lives under this path; the runner task's role may read and delete only here. */
export const RUNNER_PARAMETER_PREFIX = '/fleetbot/runners/';

// The Path filter names the hierarchy without its trailing slash.
const RUNNER_PARAMETER_PATH = RUNNER_PARAMETER_PREFIX.slice(0, -1);
// DescribeParameters returns at most 50 per page; DeleteParameters takes at most 10 names per call.
const DESCRIBE_PAGE = 50;
const DELETE_BATCH = 10;

export function runnerParameterName(runnerName: string): string {
  return `${RUNNER_PARAMETER_PREFIX}${runnerName}`;
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

  async put(runnerName: string, value: string): Promise<void> {
    await this.ssm.send(
      new PutParameterCommand({
        Name: runnerParameterName(runnerName),
        Type: 'SecureString',
        Value: value,
        KeyId: this.kmsKeyId,
        // A credential re-issued after a crash replaces the one nobody read.
        Overwrite: true,
        Description: 'fleetbot runner credential, single use',
      }),
    );
  }

  async delete(runnerName: string): Promise<void> {
    try {
      await this.ssm.send(new DeleteParameterCommand({ Name: runnerParameterName(runnerName) }));
    } catch (error) {
      // The runner deletes its parameter itself once it has read it.
      if (!(error instanceof ParameterNotFound)) throw error;
    }
  }

  /** Every parameter under the runner path, with when it was last written (metadata only, no values). */
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
      for (const parameter of page.Parameters ?? []) {
        if (!parameter.Name?.startsWith(RUNNER_PARAMETER_PREFIX) || !parameter.LastModifiedDate) continue;
        parameters.push({
          runnerName: parameter.Name.slice(RUNNER_PARAMETER_PREFIX.length),
          lastModifiedAt: parameter.LastModifiedDate.getTime(),
        });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return parameters;
  }

  /** Deletes the runners' parameters, ten per call; returns how many existed. Missing ones are no error. */
  async deleteRunnerParameters(runnerNames: readonly string[]): Promise<number> {
    let deleted = 0;
    for (let start = 0; start < runnerNames.length; start += DELETE_BATCH) {
      const names = runnerNames.slice(start, start + DELETE_BATCH).map(runnerParameterName);
      // Names that no longer exist come back in InvalidParameters rather than as an error.
      const result = await this.ssm.send(new DeleteParametersCommand({ Names: names }));
      deleted += result.DeletedParameters?.length ?? 0;
    }
    return deleted;
  }
}
