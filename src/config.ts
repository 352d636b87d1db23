import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { formatZodIssues } from './zod-issues.js';

/** The app's own settings, read from the environment once at start. Probot reads its own variables. */
export const environmentSchema = z.object({
  FLEETBOT_CONFIG: z.string().min(1).optional(),
  FLEETBOT_STORE: z
    .string()
    .min(1)
    .optional()
    .superRefine((value, context) => {
      const location = value === undefined ? undefined : parseStoreLocation(value);
      if (typeof location === 'string') context.addIssue({ code: 'custom', message: location });
    }),
  FLEETBOT_DB: z.string().min(1).optional(),
  FLEETBOT_RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(30),
  FLEETBOT_LAUNCH_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(120),
  FLEETBOT_ORPHAN_GRACE_SECONDS: z.coerce.number().int().min(0).default(300),
  FLEETBOT_RUNNER_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(120),
  FLEETBOT_CIRCLECI_POLL_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(15),
  FLEETBOT_DELIVERY_RECOVERY_SECONDS: z.coerce.number().int().min(0).default(60),
  FLEETBOT_GITLAB_SWEEP_SECONDS: z.coerce.number().int().min(0).default(60),
  FLEETBOT_SSM_KMS_KEY_ID: z.string().min(1).optional(),
  FLEETBOT_SHUTDOWN_SECONDS: z.coerce.number().int().min(0).default(30),
  FLEETBOT_RETENTION_DAYS: z.coerce.number().int().min(1).default(14),
  FLEETBOT_LEASE_SECONDS: z.coerce.number().int().min(3).default(15),
  FLEETBOT_QUEUE_URL: z.string().url().optional(),
  FLEETBOT_WORKER: z.enum(['true', 'false']).default('true'),
  FLEETBOT_METRICS_TOKEN: z.string().min(1).optional(),
  // The SDK reads it for AWS; the app reads it only to price runners in the region they run in.
  AWS_REGION: z.string().min(1).optional(),
  FLEETBOT_SECRETS_SSM_PREFIX: z
    .string()
    .regex(/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/, 'expected an SSM parameter path like /fleetbot/app (no "/" at the end)')
    .optional(),
  APP_ID: z.string().optional(),
  PRIVATE_KEY: z.string().optional(),
  PRIVATE_KEY_PATH: z.string().optional(),
  WEBHOOK_SECRET: z.string().optional(),
  GHE_HOST: z.string().min(1).optional(),
  GHE_PROTOCOL: z.enum(['http', 'https']).default('https'),
  GITHUB_CLIENT_ID: z.string().min(1).optional(),
  GITHUB_CLIENT_SECRET: z.string().min(1).optional(),
  FLEETBOT_DASHBOARD_TOKEN: z.string().min(16, 'use at least 16 characters (openssl rand -hex 32)').optional(),
  FLEETBOT_SESSION_SECRET: z.string().min(32, 'use at least 32 characters (openssl rand -hex 32)').optional(),
});

/** The App's credentials, as Probot reads them from the environment; FLEETBOT_SECRETS_SSM_PREFIX may supply them. */
export const APP_SECRET_NAMES = ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET'] as const;
export type AppSecretName = (typeof APP_SECRET_NAMES)[number];

export interface AppConfig {
  fleetsFile: string;
  /** A path chosen with FLEETBOT_CONFIG must exist; the default may be absent (no fleets yet). */
  fleetsFileRequired: boolean;
  /** Where jobs and runners live: FLEETBOT_STORE, else FLEETBOT_DB (a SQLite path), else the default file. */
  store: StoreLocation;
  reconcileIntervalMs: number;
  /** How long a runner may stay `launching` before the reconciler takes it for lost. */
  launchTimeoutMs: number;
  /** How long a task or instance with no live runner record may run before it is stopped. */
  orphanGraceMs: number;
  /** The least time between two sweeps of the runners registered with the CI systems. */
  runnerSweepIntervalMs: number;
  /** How often CircleCI fleets' queues are read (CircleCI has no webhook for waiting tasks). */
  circleciPollIntervalMs: number;
  /** How often failed GitHub webhook deliveries are looked for and redelivered; 0: never. */
  deliveryRecoveryIntervalMs: number;
  /** How often GitLab projects are swept for pending jobs whose webhook was lost; 0: never. */
  gitlabSweepIntervalMs: number;
  ssmKmsKeyId?: string;
  /** How long SIGTERM or SIGINT waits for launches under way, answering webhooks meanwhile. */
  shutdownMs: number;
  /** How long finished jobs and released runners stay in the store. */
  retentionMs: number;
  /** How long a replica's lease (periodic work) or request lock (IssueOps) outlives its last renewal. */
  leaseMs: number;
  /**
   * The SQS queue webhook deliveries go to once verified; `consume`: this process also handles what is on
   * it (FLEETBOT_WORKER, default true). Without it, deliveries are handled as they arrive.
   */
  queue?: { url: string; consume: boolean };
  /**
   * Where the App's credentials the environment lacks are read from at start (FLEETBOT_SECRETS_SSM_PREFIX):
   * SecureStrings `<prefix>/APP_ID`, `<prefix>/PRIVATE_KEY`, `<prefix>/WEBHOOK_SECRET` (secrets/app-secrets.ts).
   */
  appSecretsSsmPrefix?: string;
  /** With it, `GET /metrics` needs `Authorization: Bearer <token>` (FLEETBOT_METRICS_TOKEN). */
  metricsToken?: string;
  /** Where runners are priced when their fleet names no region (AWS_REGION). */
  awsRegion?: string;
  /** Without App credentials Probot serves its setup page instead of the app. */
  hasAppCredentials: boolean;
  webhookSecret?: string;
  /** github.com, or the GitHub Enterprise Server of GHE_HOST (and GHE_PROTOCOL), as Probot reaches it. */
  github: { webUrl: string; apiUrl: string };
  /**
   * The dashboard's and JSON API's access (src/web): the App's OAuth client for GitHub sign-in (both or
   * neither), the bearer token for kiosks and scripts, and the secret that signs session cookies (when
   * unset, src/web derives one from the App's private key).
   */
  dashboard: { oauthClient?: { id: string; secret: string }; token?: string; sessionSecret?: string };
  /**
   * Values that must never reach a comment or a log, for redaction (terraform/redact.ts): the App's private
   * key, the webhook secret, and the AWS secret key and session token this process runs with.
   */
  secretValues: string[];
}

// Real keys, secrets and tokens are far longer; shorter values are test placeholders ("testing"), and
// replacing every occurrence of those would mangle the text.
const MIN_SECRET_LENGTH = 8;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A store: the embedded SQLite file, or one DynamoDB table shared by every replica. */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'dynamodb'; table: string };

export const DEFAULT_SQLITE_PATH = './data/fleetbot.db';

// DynamoDB's rule for table names.
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/**
 * Reads `sqlite:<path>` or `dynamodb:<table>`; a message saying what is wrong otherwise. The CLI's store
 * commands read their arguments with it too.
 */
export function parseStoreLocation(text: string): StoreLocation | string {
  const colon = text.indexOf(':');
  const [kind, rest] = colon === -1 ? [text, ''] : [text.slice(0, colon), text.slice(colon + 1)];
  if (kind === 'sqlite') return rest === '' ? 'sqlite: needs a file path (sqlite:./data/fleetbot.db)' : { kind, path: rest };
  if (kind === 'dynamodb') {
    return TABLE_NAME.test(rest)
      ? { kind, table: rest }
      : `dynamodb: needs a table name of 3 to 255 letters, digits, "_", "-" or "." (got "${rest}")`;
  }
  return `"${text}" is neither sqlite:<path> nor dynamodb:<table>`;
}

/** FLEETBOT_STORE (validated by the schema) wins; FLEETBOT_DB, the older name, is a SQLite path. */
function storeLocation(store: string | undefined, database: string | undefined): StoreLocation {
  if (store === undefined) return { kind: 'sqlite', path: database ?? DEFAULT_SQLITE_PATH };
  return parseStoreLocation(store) as StoreLocation;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const result = environmentSchema.safeParse(env);
  if (!result.success) {
    const problems = formatZodIssues(result.error);
    throw new ConfigError(`invalid environment:\n  - ${problems.join('\n  - ')}`);
  }
  const vars = result.data;
  return {
    fleetsFile: vars.FLEETBOT_CONFIG ?? './fleetbot.yml',
    fleetsFileRequired: vars.FLEETBOT_CONFIG !== undefined,
    store: storeLocation(vars.FLEETBOT_STORE, vars.FLEETBOT_DB),
    reconcileIntervalMs: vars.FLEETBOT_RECONCILE_INTERVAL_SECONDS * 1000,
    launchTimeoutMs: vars.FLEETBOT_LAUNCH_TIMEOUT_SECONDS * 1000,
    orphanGraceMs: vars.FLEETBOT_ORPHAN_GRACE_SECONDS * 1000,
    runnerSweepIntervalMs: vars.FLEETBOT_RUNNER_SWEEP_INTERVAL_SECONDS * 1000,
    circleciPollIntervalMs: vars.FLEETBOT_CIRCLECI_POLL_INTERVAL_SECONDS * 1000,
    deliveryRecoveryIntervalMs: vars.FLEETBOT_DELIVERY_RECOVERY_SECONDS * 1000,
    gitlabSweepIntervalMs: vars.FLEETBOT_GITLAB_SWEEP_SECONDS * 1000,
    ssmKmsKeyId: vars.FLEETBOT_SSM_KMS_KEY_ID,
    shutdownMs: vars.FLEETBOT_SHUTDOWN_SECONDS * 1000,
    retentionMs: vars.FLEETBOT_RETENTION_DAYS * 86_400_000,
    leaseMs: vars.FLEETBOT_LEASE_SECONDS * 1000,
    queue: vars.FLEETBOT_QUEUE_URL ? { url: vars.FLEETBOT_QUEUE_URL, consume: vars.FLEETBOT_WORKER === 'true' } : undefined,
    appSecretsSsmPrefix: vars.FLEETBOT_SECRETS_SSM_PREFIX,
    metricsToken: vars.FLEETBOT_METRICS_TOKEN,
    awsRegion: vars.AWS_REGION,
    hasAppCredentials: Boolean(vars.APP_ID && (vars.PRIVATE_KEY || vars.PRIVATE_KEY_PATH)),
    webhookSecret: vars.WEBHOOK_SECRET || undefined,
    github: githubUrls(vars.GHE_HOST, vars.GHE_PROTOCOL),
    dashboard: {
      oauthClient:
        vars.GITHUB_CLIENT_ID && vars.GITHUB_CLIENT_SECRET ? { id: vars.GITHUB_CLIENT_ID, secret: vars.GITHUB_CLIENT_SECRET } : undefined,
      token: vars.FLEETBOT_DASHBOARD_TOKEN,
      sessionSecret: vars.FLEETBOT_SESSION_SECRET,
    },
    // The AWS credentials are the SDK's and terraform's to read; they are named here only to be redacted, as
    // are the values of every other secret-named variable (CI tokens: a CircleCI token has no pattern to find).
    secretValues: [
      vars.PRIVATE_KEY,
      vars.WEBHOOK_SECRET,
      env.AWS_SECRET_ACCESS_KEY,
      env.AWS_SESSION_TOKEN,
      ...Object.entries(env)
        .filter(([name]) => SECRET_NAME.test(name) && !TERRAFORM_KEEPS.test(name) && !name.endsWith('_PATH'))
        .map(([, value]) => value),
    ].filter((value): value is string => value !== undefined && value.length >= MIN_SECRET_LENGTH),
  };
}

/** Where Probot reaches GitHub (its own rule for GHE_HOST), and the web host its OAuth pages are on. */
function githubUrls(host: string | undefined, protocol: 'http' | 'https'): AppConfig['github'] {
  if (host === undefined) return { webUrl: 'https://github.com', apiUrl: 'https://api.github.com' };
  return { webUrl: `${protocol}://${host}`, apiUrl: `${protocol}://${host}/api/v3` };
}

/**
 * The App's private key, from PRIVATE_KEY or the file PRIVATE_KEY_PATH names, as Probot reads it (an
 * escaped `\n` is a newline); undefined when neither is set.
 */
export function appPrivateKey(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PRIVATE_KEY) return env.PRIVATE_KEY.replace(/\\n/g, '\n');
  return env.PRIVATE_KEY_PATH ? readFileSync(env.PRIVATE_KEY_PATH, 'utf8') : undefined;
}

/**
 * Applies `./.env` to the environment the way Probot's `run()` does (the file's values win), but before
 * fleetbot reads its own settings: the setup page writes the App's credentials there, and without this
 * the next `npm start` would see no credentials and start Probot without fleetbot's handlers.
 */
export function applyDotEnvFile(directory = process.cwd(), env: NodeJS.ProcessEnv = process.env): void {
  let text: string;
  try {
    text = readFileSync(join(directory, '.env'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  Object.assign(env, parseEnv(text));
}

// Terraform needs AWS's credentials (and may need its own TF_TOKEN_* for a registry); nothing else secret.
const TERRAFORM_KEEPS = /^(?:AWS|TF)_/;
export const SECRET_NAME = /(?:^|_)(?:TOKEN|SECRET|PRIVATE_KEY|PASSWORD)(?:_|$)|^SENTRY_DSN$/i;

/**
 * The app's environment without its own secrets (the App's private key, the webhook secret, OAuth client
 * secret, GitHub, GitLab and CircleCI tokens): what Terraform runs with. A provider or a `local-exec` can
 * read its whole environment and print it into a plan.
 */
export function terraformEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => TERRAFORM_KEEPS.test(name) || !SECRET_NAME.test(name)));
}
