import { Construct } from 'constructs';
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider, awsProviderEndpointsToTerraform } from '@cdktf/provider-aws/lib/provider/index.js';
import type { FleetProvision, FleetSpec } from '../src/fleets/spec.js';
import type { ProviderSettings, TerraformBackend } from '../src/terraform/settings.js';
import { PROVISIONED_COMPUTE, type ProvisionedComputeType } from '../src/fleets/compute-registry.js';
import type { ComputeOf } from '../src/fleets/compute-kinds.js';
import { buildEcsFargateFleet } from './constructs/ecs-fargate-fleet.js';
import { buildEc2Fleet } from './constructs/ec2-fleet.js';
import type { FleetBuilder } from './constructs/fleet-builder.js';

export interface FleetStackProps {
  spec: FleetSpec;
  provision: FleetProvision;
  backend: TerraformBackend;
  provider: ProviderSettings;
  /** The EC2 runners' boot script (images/ec2/runner-user-data.sh), or how to read it; unused by other fleets. */
  ec2UserData: string | (() => string);
}

/** Every taggable resource carries these, set explicitly rather than through provider default_tags. */
export function fleetTags(spec: FleetSpec, provision: FleetProvision): Record<string, string> {
  return {
    'fleetbot:fleet': spec.name,
    'fleetbot:managed-by': 'fleetbot',
    ...(provision.requestIssue === undefined ? {} : { 'fleetbot:request-issue': String(provision.requestIssue) }),
  };
}

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

/** Each compute type IssueOps provisions, and the construct that builds its fleets: a type without one is a compile error. */
const FLEET_BUILDERS: { [T in ProvisionedComputeType]: FleetBuilder<ComputeOf<T>, string> } = {
  ecs: buildEcsFargateFleet,
  ec2: buildEc2Fleet,
};

/** One Terraform stack per fleet: the AWS provider, the fleet's state backend, its resources and outputs. */
export class FleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id);
    this.awsProvider(props.provision.region, props.provider);
    this.stateBackend(props.spec.name, props.backend, props.provider);
    this.fleet(props);
  }

  private awsProvider(region: string, provider: ProviderSettings): void {
    const aws = new AwsProvider(this, 'aws', {
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
  }

  private stateBackend(fleet: string, backend: TerraformBackend, provider: ProviderSettings): void {
    if (backend.type === 'local') {
      // Relative: the state lives in the fleet's own working directory.
      new LocalBackend(this, { path: 'terraform.tfstate' });
      return;
    }
    // The backend talks to the same AWS (or AWS-compatible API) as the provider, with the same checks.
    new S3Backend(this, {
      bucket: backend.bucket,
      key: `${backend.keyPrefix}/${fleet}.tfstate`,
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

  /** The compute type's construct, and its outputs in the order its module names them. */
  private fleet({ spec, provision, ec2UserData }: FleetStackProps): void {
    const type = spec.compute.type;
    if (!Object.hasOwn(FLEET_BUILDERS, type)) {
      const kinds = Object.values(PROVISIONED_COMPUTE).map((kind) => kind.label);
      throw new Error(`fleet ${spec.name}: IssueOps provisions ${kinds.join(' and ')} fleets, not ${type}`);
    }
    const build = FLEET_BUILDERS[type as ProvisionedComputeType] as FleetBuilder<FleetSpec['compute'], string>;
    const userData = typeof ec2UserData === 'string' ? () => ec2UserData : ec2UserData;
    const outputs = build(this, { spec, compute: spec.compute, provision, tags: fleetTags(spec, provision), userData });
    for (const name of PROVISIONED_COMPUTE[type as ProvisionedComputeType].outputs.names) this.output(name, outputs[name]);
  }

  private output(name: string, value: string | readonly string[]): void {
    new TerraformOutput(this, name, { value }).overrideLogicalId(name);
  }
}
