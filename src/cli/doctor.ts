import { resolve } from 'node:path';
import type { AwsClients } from '../aws.js';
import type { AppConfig } from '../config.js';
import type { FleetsFile } from '../fleets/file.js';
import type { InstallationOctokit } from '../github-client.js';
import type { IssueOpsSettings } from '../issueops/settings.js';
import { CachedSecretParameters } from '../secrets/parameters.js';
import { appConfig, appFleets, appOctokit, awsClients, githubWebUrl } from './app-environment.js';
import { EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import { fleetResourceChecks, parameterChecks } from './doctor-aws.js';
import { describeError, fail, pass, type DoctorCheck, type Finding } from './doctor-check.js';
import { githubChecks, readAppManifest, type AppManifest } from './doctor-github.js';
import { ciTokenChecks, terraformChecks } from './doctor-tools.js';
import { formatTable, printResult } from './table.js';

/**
 * `fleetbot doctor`: one check per thing a new installation gets wrong, each failure with its fix. It
 * reads what the app reads (environment, .env is the shell's to load, the fleets file) and calls what
 * the app calls, with the same clients.
 */

export interface DoctorDependencies {
  octokit(context: CliContext): Promise<InstallationOctokit>;
  aws(env: NodeJS.ProcessEnv): AwsClients;
  manifest(): AppManifest;
  fetch?: typeof fetch;
}

const defaults: DoctorDependencies = { octokit: appOctokit, aws: awsClients, manifest: () => readAppManifest() };

export interface CheckResult {
  check: string;
  state: Finding['state'];
  detail: string;
  fix?: string;
}

interface Setup {
  config: AppConfig;
  fleets: FleetsFile<IssueOpsSettings>;
}

/** The environment and the fleets file first: every later check is built from them. */
async function readSetup(context: CliContext): Promise<{ setup?: Setup; finding: Finding }> {
  try {
    const config = appConfig(context);
    const fleets = await appFleets(context, config);
    const file = resolve(context.cwd, config.fleetsFile);
    return { setup: { config, fleets }, finding: pass(`${file}: ${fleets.fleets.length} fleets${fleets.issueops ? ', IssueOps' : ''}`) };
  } catch (error) {
    return {
      finding: fail(
        describeError(error),
        'correct the environment variables or the fleets file as the message says (README: Configuration)',
      ),
    };
  }
}

function checksFor(context: CliContext, setup: Setup, deps: DoctorDependencies): DoctorCheck[] {
  const { config, fleets } = setup;
  const aws = deps.aws(context.env);
  const checks = githubChecks({
    octokit: () => deps.octokit(context),
    manifest: deps.manifest(),
    webUrl: githubWebUrl(context.env),
    production: context.env.NODE_ENV === 'production',
    webhookSecretSet: config.webhookSecret !== undefined,
  });
  checks.push(...fleetResourceChecks(aws, fleets.fleets, config.fleetsFile));
  checks.push(...parameterChecks(aws, config.ssmKmsKeyId));
  if (fleets.issueops) checks.push(...terraformChecks(fleets.issueops.terraform, context.cwd, config.fleetsFile));
  checks.push(...ciTokenChecks(fleets.fleets, { secrets: new CachedSecretParameters(aws.ssm), fetch: deps.fetch }));
  return checks;
}

/** Runs the checks one after another, saying on standard error which one is under way. */
export async function runDoctor(context: CliContext, deps: DoctorDependencies): Promise<CheckResult[]> {
  const { setup, finding } = await readSetup(context);
  const results: CheckResult[] = [{ check: 'configuration', ...finding }];
  if (!setup) return results;
  const checks = checksFor(context, setup, deps);
  for (const [index, check] of checks.entries()) {
    context.err(`[${index + 1}/${checks.length}] ${check.name}…`);
    let outcome: Finding;
    try {
      outcome = await check.run();
    } catch (error) {
      outcome = fail(describeError(error), 'see the message; run fleetbot doctor again once it is fixed');
    }
    results.push({ check: check.name, ...outcome });
  }
  return results;
}

function render(results: CheckResult[]): string {
  const table = formatTable(results, [
    { header: 'CHECK', value: (result) => result.check },
    { header: 'RESULT', value: (result) => result.state },
    { header: 'DETAIL', value: (result) => result.detail },
  ]);
  const failed = results.filter((result) => result.fix !== undefined);
  if (failed.length === 0) return `${table}\n\nAll ${results.length} checks passed.`;
  const fixes = failed.map((result) => `- ${result.check}: ${result.fix}`);
  return `${table}\n\n${failed.length} of ${results.length} checks failed. To fix:\n${fixes.join('\n')}`;
}

export function createDoctorCommand(deps: DoctorDependencies = defaults): Command {
  return {
    summary: 'Check what a new installation gets wrong (App, webhook, AWS, SSM/KMS, Terraform, CI tokens), with a fix for each',
    usage: `Usage: fleetbot doctor [--json]

Checks, with the app's own environment and fleets file (FLEETBOT_CONFIG):
  - the configuration: the environment and the fleets file parse;
  - the GitHub App: APP_ID and PRIVATE_KEY (GET /app), its permissions and events against app.yml, and its
    webhook (GET /app/hook/config): a URL (not smee.io with NODE_ENV=production), JSON, a secret, WEBHOOK_SECRET;
  - each fleet's AWS resources: ECS cluster, task definition, subnets, security groups; launch template;
    Auto Scaling group;
  - SSM: a scratch SecureString under /fleetbot/runners/ put, read and deleted; again with
    FLEETBOT_SSM_KMS_KEY_ID when it is set (KMS);
  - with an IssueOps section: the Terraform binary and the provider mirror;
  - each GitLab and CircleCI API token the fleets name (and their other parameters).
Progress goes to standard error.

  --json  Print the results as JSON: [{ check, state: ok|FAIL|skip, detail, fix? }]

Exit codes: 0 every check passed; 3 a check failed; 2 a wrong invocation.`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } });
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const results = await runDoctor(context, deps);
      printResult(context, values.json, results, render);
      return results.every((result) => result.state === 'ok') ? EXIT.ok : EXIT.unhealthy;
    },
  };
}

export const doctorCommand = createDoctorCommand();
