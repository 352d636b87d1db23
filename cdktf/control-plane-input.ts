import { z } from 'zod';
import { APP_SECRET_NAMES, SECRET_NAME } from '../src/config.js';
import { awsRegion, securityGroupId, subnetId } from '../src/fleets/spec.js';
import { terraformSettingsSchema } from '../src/terraform/settings.js';

/**
 * What the control-plane stack (cdktf/control-plane.ts) is built from: the operator's input file for
 * `fleetbot synth-control-plane`. This file imports no CDKTF package, so the CLI checks the input before
 * loading CDKTF.
 */

/** Environment the stack sets itself: an `environment` entry may not override it. */
const STACK_ENVIRONMENT = [
  'FLEETBOT_STORE',
  'FLEETBOT_QUEUE_URL',
  'FLEETBOT_WORKER',
  'FLEETBOT_LEASE_SECONDS',
  'FLEETBOT_SECRETS_SSM_PREFIX',
  'FLEETBOT_SSM_KMS_KEY_ID',
  'NODE_ENV',
  ...APP_SECRET_NAMES,
] as const;

/** Why an environment entry is refused, or undefined when it is fine. */
function environmentProblem(name: string): string | undefined {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) return 'expected an environment variable name like FLEETBOT_CONFIG';
  if ((STACK_ENVIRONMENT as readonly string[]).includes(name)) return 'is set by the stack itself';
  // A value would sit in clear in the task definition, the Lambda configuration and the Terraform state.
  if (SECRET_NAME.test(name)) return 'looks like a secret: keep it in SSM (secretsParameterPrefix), not in clear in the environment';
  return undefined;
}

const environmentSchema = z.record(z.string(), z.string()).superRefine((environment, context) => {
  for (const name of Object.keys(environment)) {
    const problem = environmentProblem(name);
    if (problem) context.addIssue({ code: 'custom', path: [name], message: problem });
  }
});

const parameterName = z.string().regex(/^\/[A-Za-z0-9_./-]{1,1010}$/, 'expected an SSM parameter name like /fleetbot/app');
const arn = z.string().regex(/^arn:aws[a-z-]*:[a-z0-9-]+:/, 'expected an ARN');
const resourceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'expected a name of letters, digits, ".", "_" and "-"');

// Fargate's CPU units and the memory (MiB) each allows, 1 to 4 vCPU (the app needs no more).
const FARGATE_MEMORY: Record<number, [number, number]> = {
  256: [512, 2048],
  512: [1024, 4096],
  1024: [2048, 8192],
  2048: [4096, 16384],
  4096: [8192, 30720],
};

const serviceSchema = z
  .strictObject({
    /** The fleetbot image (images/fleetbot/Dockerfile; with IssueOps, built with ISSUEOPS=true). */
    image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$/, 'expected a container image like ghcr.io/acme/fleetbot:0.1.0'),
    replicas: z.number().int().min(0).max(20).default(2),
    cpu: z.number().int().default(1024),
    memoryMiB: z.number().int().default(2048),
    subnets: z.array(subnetId).min(1),
    securityGroups: z.array(securityGroupId).min(1),
    assignPublicIp: z.boolean().default(false),
  })
  .superRefine((service, context) => {
    const range = FARGATE_MEMORY[service.cpu];
    if (!range) {
      context.addIssue({ code: 'custom', path: ['cpu'], message: `expected Fargate CPU units: ${Object.keys(FARGATE_MEMORY).join(', ')}` });
    } else if (service.memoryMiB < range[0] || service.memoryMiB > range[1] || service.memoryMiB % 1024 !== 0) {
      context.addIssue({
        code: 'custom',
        path: ['memoryMiB'],
        message: `expected a multiple of 1024 from ${range[0]} to ${range[1]} for ${service.cpu} CPU units`,
      });
    }
  });

const issueOpsSchema = z.strictObject({
  /** The S3 bucket (and key prefix) of the fleets' Terraform state: issueops.terraform.backend in the fleets file. */
  stateBucket: z.string().min(3),
  stateKeyPrefix: z.string().min(1).default('fleetbot'),
  /** Terraform's lock table, when the backend names one. */
  lockTable: resourceName.optional(),
});

export const controlPlaneInputSchema = z.strictObject({
  /** Prefix of every resource name: `<name>-jobs`, `<name>-webhooks`… */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,29}$/, 'expected 1-30 lowercase letters, digits and "-"')
    // The app and IssueOps manage fleetbot-* clusters and task definitions: the control plane's must not be among them.
    .refine((name) => !name.startsWith('fleetbot-'), { error: "fleetbot-… names are the fleets' (IssueOps manages them): choose another" })
    .default('fleetbot'),
  region: awsRegion,
  service: serviceSchema,
  /** The built app as a Lambda zip (`npm run package:lambda`), as Terraform finds it from its working directory. */
  lambdaZip: z
    .string()
    .min(1)
    .regex(/\.zip$/, 'expected the path of a .zip file'),
  /** false: no worker function; the service replicas consume the queue (FLEETBOT_WORKER=true). */
  workerLambda: z.boolean().default(true),
  /** When EventBridge invokes `tick`: rate(...) or cron(...). */
  tickSchedule: z
    .string()
    .regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$/, 'expected rate(1 minute) or cron(...)')
    .default('rate(1 minute)'),
  leaseSeconds: z.number().int().min(10).max(900).default(60),
  /** SNS topics (or other alarm actions) notified when an alarm fires; none: the alarms are only visible in CloudWatch. */
  alarmActions: z.array(arn).default([]),
  secretsParameterPrefix: parameterName.default('/fleetbot/app'),
  /** The KMS key of the App's SecureStrings, when not the account's aws/ssm key. */
  secretsKmsKeyArn: arn.optional(),
  /** Further parameters the webhook function may read: the GitLab fleets' webhookSecretParameter. */
  webhookSecretParameters: z.array(parameterName).default([]),
  /** For the app policy (images/fleetbot/iam-policy.json): the fleets' ECS clusters, Auto Scaling groups, KMS key. */
  fleetClusters: z.array(resourceName).default([]),
  autoScalingGroups: z.array(resourceName).default([]),
  /** FLEETBOT_SSM_KMS_KEY_ID: the key id (not an alias) of the runner credentials' customer-managed key. */
  runnerKmsKeyId: z
    .string()
    .regex(/^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/, 'expected a KMS key id')
    .optional(),
  /** Present: the service replicas run IssueOps, with images/fleetbot/iam-policy-issueops.json on this state. */
  issueOps: issueOpsSchema.optional(),
  /** More environment for the app (FLEETBOT_CONFIG, LOG_LEVEL…), never secrets. */
  environment: environmentSchema.default({}),
  logRetentionDays: z.number().int().min(1).default(30),
  /** The control plane's own Terraform state and provider settings, as the fleets file's issueops.terraform. */
  terraform: terraformSettingsSchema.pick({ backend: true, provider: true }).prefault({}),
});

export type ControlPlaneInput = z.infer<typeof controlPlaneInputSchema>;
