import { DeleteParameterCommand, ParameterNotFound, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';

/** Every runner credential lives under this path; the runner task's role may read and delete only here. */
export const RUNNER_PARAMETER_PREFIX = '/fleetbot/runners/';

export function runnerParameterName(runnerName: string): string {
  return `${RUNNER_PARAMETER_PREFIX}${runnerName}`;
}

/**
 * Runner credentials as SSM SecureStrings. The runner reads and deletes its own parameter at start;
 * the app deletes it again on completion in case the runner never started.
 */
export class RunnerSecrets {
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
}
