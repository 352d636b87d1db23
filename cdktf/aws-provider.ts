import type { Construct } from 'constructs';
import { LocalBackend, S3Backend } from 'cdktf';
import { AwsProvider, awsProviderEndpointsToTerraform } from '@cdktf/provider-aws/lib/provider/index.js';
import type { ProviderSettings, TerraformBackend } from '../src/terraform/settings.js';

/** The AWS provider and state backend every fleetbot stack (fleets, control plane) is written with. */

// Endpoint names the pinned AWS provider accepts (`ec2`, `ecs`, `cloudwatchlogs`, …): rendering an
// empty struct lists them all.
const KNOWN_ENDPOINTS = new Set(Object.keys(awsProviderEndpointsToTerraform({})));

function endpointsBlock(endpoints: Record<string, string> | undefined): Record<string, string> | undefined {
  if (endpoints === undefined || Object.keys(endpoints).length === 0) return undefined;
  const unknown = Object.keys(endpoints).filter((name) => !KNOWN_ENDPOINTS.has(name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown AWS provider endpoint name(s): ${unknown.join(', ')} (the provider knows e.g. ec2, ecs, iam, sts, ssm, cloudwatchlogs)`,
    );
  }
  return Object.fromEntries(Object.entries(endpoints).sort(([a], [b]) => a.localeCompare(b)));
}

function pick(endpoints: Record<string, string> | undefined, names: readonly string[]): Record<string, string> | undefined {
  const picked = Object.fromEntries(Object.entries(endpoints ?? {}).filter(([name]) => names.includes(name)));
  return Object.keys(picked).length > 0 ? picked : undefined;
}

/** The AWS provider in `region`, with the settings' endpoints and the checks an AWS-compatible API cannot answer. */
export function awsProvider(scope: Construct, region: string, provider: ProviderSettings): AwsProvider {
  const aws = new AwsProvider(scope, 'aws', {
    region,
    skipCredentialsValidation: provider.skipCredentialsValidation || undefined,
    skipRequestingAccountId: provider.skipRequestingAccountId || undefined,
    skipMetadataApiCheck: provider.skipMetadataApiCheck ? 'true' : undefined,
    s3UsePathStyle: provider.s3UsePathStyle || undefined,
    maxRetries: provider.maxRetries,
  });
  // Endpoint names go to Terraform verbatim: the typed struct spells some of them differently (s3Api).
  const endpoints = endpointsBlock(provider.endpoints);
  if (endpoints) aws.addOverride('endpoints', [endpoints]);
  return aws;
}

/** Where the stack's state lives: `terraform.tfstate` in its working directory, or `<keyPrefix>/<stateName>.tfstate` in S3. */
export function stateBackend(scope: Construct, stateName: string, backend: TerraformBackend, provider: ProviderSettings): void {
  if (backend.type === 'local') {
    // Relative: the state lives in the stack's own working directory.
    new LocalBackend(scope, { path: 'terraform.tfstate' });
    return;
  }
  // The backend talks to the same AWS (or AWS-compatible API) as the provider, with the same checks.
  new S3Backend(scope, {
    bucket: backend.bucket,
    key: `${backend.keyPrefix}/${stateName}.tfstate`,
    region: backend.region,
    dynamodbTable: backend.dynamodbTable,
    encrypt: true,
    endpoints: pick(provider.endpoints, ['s3', 'dynamodb', 'iam', 'sts']),
    usePathStyle: provider.s3UsePathStyle || undefined,
    skipCredentialsValidation: provider.skipCredentialsValidation || undefined,
    skipRequestingAccountId: provider.skipRequestingAccountId || undefined,
    skipMetadataApiCheck: provider.skipMetadataApiCheck || undefined,
  });
}
