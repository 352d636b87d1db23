import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createProbot } from 'probot';
import { fleetbotOctokit } from '../assemble.js';
import { createAwsClients, type AwsClients } from '../aws.js';
import { APP_SECRET_NAMES, ConfigError, readConfig, type AppConfig } from '../config.js';
import { FleetsFileError, loadFleetsFile, type FleetsFile } from '../fleets/file.js';
import type { InstallationOctokit } from '../github-client.js';
import { issueOpsSettingsSchema, type IssueOpsSettings } from '../issueops/settings.js';
import { createAppLog } from '../log.js';
import { readConfigWithAppSecrets } from '../secrets/app-secrets.js';
import { CommandError, EXIT, type CliContext } from './command.js';

/**
 * What the CLI's commands read of the app's own setup, read as the app reads it (config.ts, the fleets
 * file, the SDK's chain), so a command sees what the app would.
 */

/** The app's settings; an invalid environment is the user's to fix (exit 2). */
export function appConfig(context: CliContext): AppConfig {
  try {
    return readConfig(context.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message, EXIT.usage);
    throw error;
  }
}

/** The fleets file named by FLEETBOT_CONFIG, relative to the working directory, IssueOps section parsed. */
export async function appFleets(context: CliContext, config: AppConfig): Promise<FleetsFile<IssueOpsSettings>> {
  try {
    return await loadFleetsFile(resolve(context.cwd, config.fleetsFile), config.fleetsFileRequired, issueOpsSettingsSchema);
  } catch (error) {
    if (error instanceof FleetsFileError) throw new CommandError(error.message);
    throw error;
  }
}

/** A relative SQLite path means the working directory; a missing file is not a store (opening would create one). */
export function sqlitePath(context: CliContext, path: string): string {
  const absolute = resolve(context.cwd, path);
  if (!existsSync(absolute)) {
    throw new CommandError(`no store at ${absolute}: set FLEETBOT_STORE (or FLEETBOT_DB) as the app has it, or run where the app runs`);
  }
  return absolute;
}

/** The SDK clients, from the environment's chain (AWS_REGION, AWS_ENDPOINT_URL, credentials). */
export function awsClients(env: NodeJS.ProcessEnv): AwsClients {
  return createAwsClients({ endpoint: env.AWS_ENDPOINT_URL, region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION });
}

/** github.com, or the GitHub Enterprise Server of GHE_HOST, as Probot builds its API URL. */
export function githubWebUrl(env: NodeJS.ProcessEnv): string {
  return env.GHE_HOST ? `${env.GHE_PROTOCOL || 'https'}://${env.GHE_HOST}` : 'https://github.com';
}

/**
 * An Octokit authenticated as the App itself (a JWT from APP_ID and PRIVATE_KEY or PRIVATE_KEY_PATH, through
 * Probot's @octokit/auth-app strategy), on GHE_HOST when set. FLEETBOT_SECRETS_SSM_PREFIX supplies missing
 * credentials as it does for the app. Probot's log goes to standard error, at LOG_LEVEL (default warn).
 */
export async function appOctokit(context: CliContext): Promise<InstallationOctokit> {
  let config: AppConfig;
  try {
    config = await readConfigWithAppSecrets(APP_SECRET_NAMES, context.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message, EXIT.usage);
    throw error;
  }
  if (!config.hasAppCredentials) {
    throw new CommandError(
      'APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) are not set: run where the app runs (its .env), or set them as the app has them',
      EXIT.usage,
    );
  }
  const log = await createAppLog({ ...context.env, LOG_LEVEL: context.env.LOG_LEVEL || 'warn' }, process.stderr);
  return createProbot({ env: context.env, overrides: { Octokit: fleetbotOctokit(), log } }).auth();
}
