import { z } from 'zod';
import { awsRegion } from '../aws-region.js';

/**
 * How Terraform runs fleet stacks: the binary, the working directories, the state backend and the AWS
 * provider settings written into every synthesized fleet. The fleets file carries them in
 * `issueops.terraform`; `fleetbot synth` and cdktf/ read them from here, below IssueOps.
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

export const terraformSettingsSchema = z.strictObject({
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
});

export type TerraformSettings = z.infer<typeof terraformSettingsSchema>;
export type TerraformBackend = TerraformSettings['backend'];
export type ProviderSettings = TerraformSettings['provider'];

/** What a fleet's stack is synthesized with besides its spec: where its state lives and how the provider reaches AWS. */
export interface SynthSettings {
  backend: TerraformBackend;
  provider: ProviderSettings;
}
