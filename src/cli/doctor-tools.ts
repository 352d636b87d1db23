import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CircleCiApi } from '../ci/circleci-api.js';
import type { CircleCiFleetSpec, FleetSpec, GitLabFleetSpec } from '../fleets/spec.js';
import type { SecretReader } from '../secrets/types.js';
import type { TerraformSettings } from '../terraform/settings.js';
import { describeError, fail, findings, pass, type DoctorCheck, type Finding } from './doctor-check.js';

/** The binary IssueOps runs, and the provider mirror it installs from, when the fleets file has an IssueOps section. */
export function terraformChecks(settings: TerraformSettings, cwd: string, fleetsFile: string): DoctorCheck[] {
  return [
    { name: 'Terraform binary', run: () => terraformVersion(settings.binary, cwd, fleetsFile) },
    { name: 'Terraform provider mirror', run: async () => providerMirror(settings.pluginMirror, cwd, fleetsFile) },
  ];
}

function terraformVersion(binary: string, cwd: string, fleetsFile: string): Promise<Finding> {
  return new Promise((done) => {
    execFile(binary, ['version', '-json'], { cwd, timeout: 30_000 }, (error, stdout) => {
      if (error) {
        done(
          fail(
            `${binary} version: ${describeError(error)}`,
            `install Terraform 1.5 or later on PATH, or set issueops.terraform.binary in ${fleetsFile} to where it is`,
          ),
        );
        return;
      }
      let version = 'unknown version';
      try {
        version = (JSON.parse(stdout) as { terraform_version?: string }).terraform_version ?? version;
      } catch {
        // OpenTofu and old releases print text: it runs, which is what matters.
      }
      done(pass(`${binary} ${version}`));
    });
  });
}

const AWS_PROVIDER = join('registry.terraform.io', 'hashicorp', 'aws');

function providerMirror(mirror: string | null, cwd: string, fleetsFile: string): Finding {
  if (mirror === null) return pass('none configured: terraform init installs the provider from the registry');
  const providerDir = join(resolve(cwd, mirror), AWS_PROVIDER);
  let versions: string[];
  try {
    versions = readdirSync(providerDir);
  } catch (error) {
    versions = [];
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      return fail(`${providerDir}: ${describeError(error)}`, `make ${providerDir} readable`);
  }
  if (versions.length > 0) return pass(`${providerDir}: ${versions.join(', ')}`);
  return fail(
    `no hashicorp/aws provider in ${resolve(cwd, mirror)}`,
    `fill it on a machine with registry access (terraform providers mirror ${mirror}, in a synthesized fleet's directory), ` +
      `or set issueops.terraform.pluginMirror in ${fleetsFile} to where the mirror is, or to null`,
  );
}

export interface CiTokenCheckOptions {
  secrets: SecretReader;
  fetch?: typeof fetch;
  circleci?: CircleCiApi;
}

/** Each GitLab instance's and CircleCI resource class's tokens, once per distinct token, asked who they are. */
export function ciTokenChecks(fleets: readonly FleetSpec[], options: CiTokenCheckOptions): DoctorCheck[] {
  const checks = new Map<string, DoctorCheck>();
  for (const fleet of fleets) {
    if (fleet.ci === 'gitlab') {
      const key = `gitlab ${fleet.gitlab.url} ${fleet.gitlab.apiTokenParameter}`;
      if (!checks.has(key))
        checks.set(key, { name: `GitLab token ${fleet.gitlab.apiTokenParameter}`, run: () => gitlabToken(fleet, options) });
    } else if (fleet.ci === 'circleci') {
      const key = `circleci ${fleet.circleci.url} ${fleet.circleci.apiTokenParameter} ${fleet.circleci.resourceClass}`;
      if (!checks.has(key)) {
        checks.set(key, { name: `CircleCI token ${fleet.circleci.apiTokenParameter}`, run: () => circleciToken(fleet, options) });
      }
    }
  }
  return [...checks.values()];
}

/** Every parameter the fleet names, read: a missing one is named with what to put there. */
async function readParameters(
  secrets: SecretReader,
  parameters: Record<string, string>,
): Promise<{ values: Map<string, string>; problems: Problem[] }> {
  const values = new Map<string, string>();
  const problems: Problem[] = [];
  for (const [parameter, what] of Object.entries(parameters)) {
    try {
      values.set(parameter, await secrets.read(parameter));
    } catch (error) {
      problems.push({ problem: `${parameter}: ${describeError(error)}`, fix: `put ${what} in SSM as the SecureString ${parameter}` });
    }
  }
  return { values, problems };
}

type Problem = { problem: string; fix: string };

async function gitlabToken(fleet: GitLabFleetSpec, options: CiTokenCheckOptions): Promise<Finding> {
  const { url, apiTokenParameter, tokenParameter, webhookSecretParameter } = fleet.gitlab;
  const { values, problems } = await readParameters(options.secrets, {
    [apiTokenParameter]: `a GitLab token with the read_api scope (${url})`,
    [tokenParameter]: `the runner authentication token (glrt-…) of fleet ${fleet.name}`,
    [webhookSecretParameter]: "the secret of the projects' GitLab webhook",
  });
  const token = values.get(apiTokenParameter);
  if (token === undefined) return findings(problems, '');
  const newToken =
    `create a token with the read_api scope at ${url}/-/user_settings/personal_access_tokens ` + `and put it in ${apiTokenParameter}`;
  let detail = '';
  try {
    const response = await (options.fetch ?? fetch)(`${url}/api/v4/user`, { headers: { 'private-token': token } });
    if (response.ok) detail = `${apiTokenParameter} is @${((await response.json()) as { username?: string }).username ?? '?'} at ${url}`;
    else problems.push({ problem: `${url} answered ${response.status} to the token in ${apiTokenParameter}`, fix: newToken });
  } catch (error) {
    problems.push({ problem: `${url}/api/v4/user: ${describeError(error)}`, fix: `check that ${url} is reachable from here` });
  }
  return findings(problems, detail);
}

/** CircleCI's runner API has no "who am I": the call the app makes with the token (the resource class's queue) says as much. */
async function circleciToken(fleet: CircleCiFleetSpec, options: CiTokenCheckOptions): Promise<Finding> {
  const { url, apiTokenParameter, runnerTokenParameter, resourceClass } = fleet.circleci;
  const { values, problems } = await readParameters(options.secrets, {
    [apiTokenParameter]: 'a CircleCI personal API token',
    [runnerTokenParameter]: `the resource class token of ${resourceClass}`,
  });
  const token = values.get(apiTokenParameter);
  if (token === undefined) return findings(problems, '');
  let detail = '';
  try {
    const api = options.circleci ?? new CircleCiApi({ attempts: 2, baseDelayMs: 500, maxDelayMs: 2_000 });
    detail = `${resourceClass}: ${await api.unclaimedTaskCount(url, token, resourceClass)} unclaimed tasks`;
  } catch (error) {
    const status = (error as { status?: number }).status;
    problems.push({
      problem: `${url} refused the token in ${apiTokenParameter} for ${resourceClass}: ${describeError(error)}`,
      fix:
        status === 401 || status === 403
          ? 'create a personal API token (CircleCI → User settings → Personal API tokens) ' +
            `of a member of ${resourceClass.split('/')[0]} and put it in ${apiTokenParameter}`
          : `check that ${url} is reachable from here and that the resource class ${resourceClass} exists`,
    });
  }
  return findings(problems, detail);
}
