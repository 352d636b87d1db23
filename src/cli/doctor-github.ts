import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { InstallationOctokit } from '../github-client.js';
import { packageRoot } from '../package-root.js';
import { describeError, fail, findings, pass, skip, type DoctorCheck, type Finding } from './doctor-check.js';

/** What the App must be allowed and subscribed to: app.yml, the manifest the App was registered from. */
export interface AppManifest {
  permissions: Record<string, string>;
  events: string[];
}

export function readAppManifest(file = join(packageRoot(), 'app.yml')): AppManifest {
  const manifest = parseYaml(readFileSync(file, 'utf8')) as { default_permissions?: Record<string, string>; default_events?: string[] };
  return { permissions: manifest.default_permissions ?? {}, events: manifest.default_events ?? [] };
}

export interface GitHubCheckOptions {
  /** The App-authenticated Octokit; rejects when the credentials are missing. */
  octokit(): Promise<InstallationOctokit>;
  manifest: AppManifest;
  /** https://github.com or the GHE server, for links to the App's settings. */
  webUrl: string;
  /** NODE_ENV=production: a smee.io webhook URL there is a mistake. */
  production: boolean;
  /** WEBHOOK_SECRET, as the app will verify signatures with it. */
  webhookSecretSet: boolean;
}

interface AppInfo {
  slug: string;
  id: number;
  owner: { login: string; type?: string } | null;
  permissions: Record<string, string | undefined>;
  events: string[];
}

const LEVELS = ['read', 'write', 'admin'];

function settingsUrl(options: GitHubCheckOptions, app: AppInfo): string {
  const owner = app.owner;
  return owner?.type === 'Organization'
    ? `${options.webUrl}/organizations/${owner.login}/settings/apps/${app.slug}`
    : `${options.webUrl}/settings/apps/${app.slug}`;
}

function permissionsFinding(options: GitHubCheckOptions, app: AppInfo): Finding {
  const where = `${settingsUrl(options, app)}/permissions`;
  const problems = Object.entries(options.manifest.permissions)
    .filter(([name, level]) => LEVELS.indexOf(app.permissions[name] ?? '') < LEVELS.indexOf(level))
    .map(([name, level]) => ({
      problem: `${name} is ${app.permissions[name] ?? 'not granted'}, needs ${level}`,
      fix: `grant "${name}: ${level}" at ${where}, then accept the new permissions on each installation`,
    }));
  for (const event of options.manifest.events.filter((name) => !app.events.includes(name))) {
    problems.push({ problem: `not subscribed to ${event}`, fix: `tick the "${event}" event at ${where}` });
  }
  const granted = Object.keys(options.manifest.permissions).length;
  return findings(problems, `${granted} permissions and ${options.manifest.events.length} events as app.yml asks`);
}

interface HookConfig {
  url?: string;
  content_type?: string;
  secret?: string;
  insecure_ssl?: string | number;
}

function webhookFinding(options: GitHubCheckOptions, app: AppInfo, hook: HookConfig): Finding {
  const where = `${settingsUrl(options, app)} (Webhook)`;
  const problems: { problem: string; fix: string }[] = [];
  if (!hook.url)
    problems.push({ problem: 'no webhook URL', fix: `set the webhook URL at ${where} to https://<the app>/api/github/webhooks` });
  else if (options.production && /(^|\.)smee\.io$/.test(new URL(hook.url).hostname)) {
    problems.push({
      problem: `the webhook URL is a smee.io channel (${hook.url}) in production`,
      fix: `set the webhook URL at ${where} to the app's own address, https://<the app>/api/github/webhooks`,
    });
  }
  if (hook.content_type !== 'json') {
    problems.push({ problem: `content type is ${hook.content_type ?? 'unset'}`, fix: `choose content type application/json at ${where}` });
  }
  // GitHub never returns the secret, only a mask when one is set.
  if (!hook.secret) problems.push({ problem: 'no webhook secret', fix: `set a secret at ${where} and the same value as WEBHOOK_SECRET` });
  if (!options.webhookSecretSet) {
    problems.push({ problem: 'WEBHOOK_SECRET is not set here', fix: "set WEBHOOK_SECRET to the secret of the App's webhook" });
  }
  if (String(hook.insecure_ssl ?? '0') !== '0') {
    problems.push({ problem: 'SSL verification is off', fix: `enable SSL verification at ${where}` });
  }
  return findings(problems, `${hook.url}, JSON, with a secret`);
}

/** The App's credentials, then (with them) its permissions and events, and its webhook. */
export function githubChecks(options: GitHubCheckOptions): DoctorCheck[] {
  let app: Promise<{ octokit: InstallationOctokit; info: AppInfo }> | undefined;
  const theApp = () =>
    (app ??= options
      .octokit()
      .then(async (octokit) => ({ octokit, info: (await octokit.request('GET /app')).data as unknown as AppInfo })));
  const withApp = (check: (octokit: InstallationOctokit, info: AppInfo) => Promise<Finding>) => async () => {
    let found: Awaited<ReturnType<typeof theApp>>;
    try {
      found = await theApp();
    } catch {
      return skip('needs working App credentials (see above)');
    }
    return check(found.octokit, found.info);
  };
  return [
    {
      name: 'GitHub App credentials',
      async run() {
        try {
          const { info } = await theApp();
          return pass(`App ${info.slug} (id ${info.id}), owned by ${info.owner?.login ?? 'unknown'}`);
        } catch (error) {
          return credentialsFailure(error);
        }
      },
    },
    { name: 'GitHub App permissions and events', run: withApp(async (_octokit, info) => permissionsFinding(options, info)) },
    {
      name: 'GitHub App webhook',
      run: withApp(async (octokit, info) => {
        try {
          const hook = (await octokit.request('GET /app/hook/config')).data as HookConfig;
          return webhookFinding(options, info, hook);
        } catch (error) {
          return fail(
            `GET /app/hook/config: ${describeError(error)}`,
            'give the App a webhook in its settings (Webhook → Active, URL, secret)',
          );
        }
      }),
    },
  ];
}

function credentialsFailure(error: unknown): Finding {
  const status = (error as { status?: unknown }).status;
  if (status === 401 || status === 404) {
    return fail(
      `GitHub refused the App's JWT (${String(status)}): APP_ID and the private key do not belong to one App`,
      "copy the App's id (App settings → General → App ID) to APP_ID, " +
        'and generate a private key there for PRIVATE_KEY or PRIVATE_KEY_PATH',
    );
  }
  if (status === undefined && /APP_ID/.test((error as Error).message)) {
    return fail((error as Error).message, 'set APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH): the setup page writes them to .env');
  }
  return fail(`GET /app: ${describeError(error)}`, 'check that GitHub (or GHE_HOST) is reachable from here, and GHE_HOST/GHE_PROTOCOL');
}
