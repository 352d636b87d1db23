import { z } from 'zod';
import { awsRegion, securityGroupId, subnetId } from '../fleets/spec.js';

/**
 * The `issueops:` section of the fleets file: where fleet requests are filed, who may approve them,
 * and how Terraform runs. Without the section the app serves its fleets file only.
 */

const localBackendSchema = z.strictObject({ type: z.literal('local') });

const s3BackendSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().min(3),
  /** State of fleet <name> lives at `<keyPrefix>/<name>.tfstate`. */
  keyPrefix: z.string().min(1).default('fleetbot'),
  region: awsRegion,
  /** Terraform's state lock table; omit to rely on fleetbot's own per-fleet lock only. */
  dynamodbTable: z.string().min(3).optional(),
});

/**
 * AWS provider settings written into every synthesized fleet: endpoints for an AWS-compatible API
 * (moto, LocalStack) and the checks such an API cannot answer. Credentials never go here: Terraform
 * reads them from its environment like any AWS SDK.
 */
const providerSchema = z.strictObject({
  endpoints: z.record(z.string().regex(/^[a-z0-9]+$/), z.url()).optional(),
  skipCredentialsValidation: z.boolean().default(false),
  skipRequestingAccountId: z.boolean().default(false),
  skipMetadataApiCheck: z.boolean().default(false),
  s3UsePathStyle: z.boolean().default(false),
  maxRetries: z.number().int().min(0).max(25).optional(),
});

export const issueOpsSettingsSchema = z.strictObject({
  repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected owner/name'),
  approvers: z
    .strictObject({
      /** Repository `role_name` values (admin, maintain, write, triage, read, or a custom role). */
      roles: z.array(z.string().min(1)).default(['admin', 'maintain']),
      /** Team slugs of the repository's organization, or `org/team`. */
      teams: z.array(z.string().regex(/^([A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]+$/, 'expected a team slug or org/team')).default([]),
    })
    .prefault({}),
  terraform: z
    .strictObject({
      /** `terraform` or `tofu`, on PATH or as a path. */
      binary: z.string().min(1).default('terraform'),
      /** One directory per fleet: its Terraform JSON, saved plans and (local backend) state. */
      workdir: z.string().min(1).default('./data/terraform'),
      /** A provider filesystem mirror for machines without registry access. */
      pluginMirror: z.string().min(1).nullable().default(null),
      backend: z.discriminatedUnion('type', [localBackendSchema, s3BackendSchema]).default({ type: 'local' }),
      provider: providerSchema.prefault({}),
      /** A terraform command running longer than this is killed and reported. */
      timeoutSeconds: z.number().int().min(10).default(1800),
    })
    .prefault({}),
  defaults: z
    .strictObject({
      /** The region fleets are built in; runners must run where the app keeps their credentials. */
      region: awsRegion.default('us-east-1'),
      subnets: z.array(subnetId).default([]),
      securityGroups: z.array(securityGroupId).default([]),
      /** Fargate tasks in public subnets without a NAT gateway need a public IP to reach GitHub. */
      assignPublicIp: z.boolean().default(false),
    })
    .prefault({}),
  /** How long `/approve destroy` waits for a draining fleet's busy runners before it destroys anyway. */
  drainTimeoutSeconds: z.number().int().min(0).default(3600),
});

export type IssueOpsSettings = z.infer<typeof issueOpsSettingsSchema>;
export type TerraformSettings = IssueOpsSettings['terraform'];
export type TerraformBackend = TerraformSettings['backend'];
export type ProviderSettings = TerraformSettings['provider'];
