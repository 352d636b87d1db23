import { GetParametersCommand, SSMClient, type Parameter } from '@aws-sdk/client-ssm';
import { AWS_RETRY, nameFailedOperations } from '../aws-calls.js';
import { ConfigError, readConfig, type AppConfig, type AppSecretName } from '../config.js';

/**
 * The App's credentials from SSM, for a process whose environment does not carry them: a Lambda function
 * (the ECS service's `secrets` put them in its environment, a function's configuration cannot without
 * holding them in clear). With FLEETBOT_SECRETS_SSM_PREFIX, each of `names` the environment lacks is read
 * from the SecureString `<prefix>/<name>` and put in the environment, where Probot and `readConfig` read it
 * as if it had been set there. One call at cold start; a rotated secret is read by the next container.
 *
 * Returns the configuration read afterwards. A missing parameter is a ConfigError naming it, never a value.
 */
export async function readConfigWithAppSecrets(names: readonly AppSecretName[], env: NodeJS.ProcessEnv): Promise<AppConfig> {
  const prefix = readConfig(env).appSecretsSsmPrefix;
  const lacking = names.filter((name) => !isSet(name, env));
  if (prefix === undefined || lacking.length === 0) return readConfig(env);
  const ssm = nameFailedOperations(new SSMClient(AWS_RETRY), 'ssm');
  const parameter = (name: AppSecretName) => `${prefix}/${name}`;
  const answer = await ssm.send(new GetParametersCommand({ Names: lacking.map(parameter), WithDecryption: true }));
  Object.assign(env, secretValues(answer.Parameters ?? [], lacking, parameter, prefix));
  return readConfig(env);
}

/** The private key may come as a file (PRIVATE_KEY_PATH) instead. */
function isSet(name: AppSecretName, env: NodeJS.ProcessEnv): boolean {
  return Boolean(env[name]) || (name === 'PRIVATE_KEY' && Boolean(env.PRIVATE_KEY_PATH));
}

/** Each name's value among the parameters SSM found; every one missing or empty is named, in one error. */
function secretValues(
  found: readonly Parameter[],
  names: readonly AppSecretName[],
  parameter: (name: AppSecretName) => string,
  prefix: string,
): Partial<Record<AppSecretName, string>> {
  const values = new Map(found.map((entry) => [entry.Name, entry.Value]));
  const missing = names.filter((name) => !values.get(parameter(name)));
  if (missing.length > 0) {
    throw new ConfigError(
      `SSM has no value for ${missing.map(parameter).join(', ')} (FLEETBOT_SECRETS_SSM_PREFIX=${prefix}): ` +
        `put ${missing.length === 1 ? 'it' : 'each'} there as a SecureString, or set ${missing.join(', ')} in the environment`,
    );
  }
  return Object.fromEntries(names.map((name) => [name, values.get(parameter(name))]));
}
