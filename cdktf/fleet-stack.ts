import { Construct } from 'constructs';
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider, awsProviderEndpointsToTerraform } from '@cdktf/provider-aws/lib/provider/index.js';
import type { FleetProvision, FleetSpec } from '../src/fleets/spec.js';
import type { ProviderSettings, TerraformBackend } from '../src/terraform/settings.js';
import { EcsFargateFleet } from './constructs/ecs-fargate-fleet.js';
import { Ec2Fleet } from './constructs/ec2-fleet.js';
import type { FleetOutputName } from './outputs.js';

export interface FleetStackProps {
  spec: FleetSpec;
  provision: FleetProvision;
  backend: TerraformBackend;
  provider: ProviderSettings;
  /** The EC2 runners' boot script (images/ec2/runner-user-data.sh); unused by other fleets. */
  ec2UserData: string;
}

/** A Fargate task size when the request names none: 1 vCPU, 2 GiB. */
export const DEFAULT_FARGATE_CPU = 1024;
export const DEFAULT_FARGATE_MEMORY_MIB = 2048;

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

/** One Terraform stack per fleet: the AWS provider, the fleet's state backend, its resources and outputs. */
export class FleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id);
    const { spec, provision, provider } = props;

    const aws = new AwsProvider(this, 'aws', {
      region: provision.region,
      skipCredentialsValidation: provider.skipCredentialsValidation || undefined,
      skipRequestingAccountId: provider.skipRequestingAccountId || undefined,
      skipMetadataApiCheck: provider.skipMetadataApiCheck ? 'true' : undefined,
      s3UsePathStyle: provider.s3UsePathStyle || undefined,
      maxRetries: provider.maxRetries,
    });
    // Endpoint names go to Terraform verbatim: the typed struct spells some of them differently (s3Api).
    const endpoints = endpointsBlock(provider.endpoints);
    if (endpoints) aws.addOverride('endpoints', [endpoints]);

    if (props.backend.type === 's3') {
      // The backend talks to the same AWS (or AWS-compatible API) as the provider, with the same checks.
      const stateEndpoints = pick(provider.endpoints, ['s3', 'dynamodb', 'iam', 'sts']);
      new S3Backend(this, {
        bucket: props.backend.bucket,
        key: `${props.backend.keyPrefix}/${spec.name}.tfstate`,
        region: props.backend.region,
        dynamodbTable: props.backend.dynamodbTable,
        encrypt: true,
        endpoints: stateEndpoints,
        usePathStyle: provider.s3UsePathStyle || undefined,
        skipCredentialsValidation: provider.skipCredentialsValidation || undefined,
        skipRequestingAccountId: provider.skipRequestingAccountId || undefined,
        skipMetadataApiCheck: provider.skipMetadataApiCheck || undefined,
      });
    } else {
      // Relative: the state lives in the fleet's own working directory.
      new LocalBackend(this, { path: 'terraform.tfstate' });
    }

    const tags = fleetTags(spec, provision);
    const compute = spec.compute;
    if (compute.type === 'ecs') {
      const fleet = new EcsFargateFleet(this, 'fleet', {
        fleet: spec.name,
        region: provision.region,
        clusterName: compute.cluster,
        taskDefinitionFamily: compute.taskDefinition,
        containerName: compute.containerName ?? 'runner',
        subnets: compute.subnets,
        image: provision.image,
        cpu: provision.cpu ?? DEFAULT_FARGATE_CPU,
        memoryMiB: provision.memoryMiB ?? DEFAULT_FARGATE_MEMORY_MIB,
        securityGroups: provision.securityGroups,
        tags,
      });
      this.output('cluster', fleet.clusterName);
      this.output('task_definition', fleet.taskDefinitionFamily);
      this.output('container_name', fleet.containerName);
      this.output('subnets', compute.subnets);
      this.output('security_groups', fleet.securityGroupIds);
      return;
    }

    if (compute.type !== 'ec2') throw new Error(`fleet ${spec.name}: IssueOps provisions ECS Fargate and EC2 fleets, not ${compute.type}`);
    if (compute.launchTemplate.startsWith('lt-')) {
      throw new Error(`fleet ${spec.name}: a provisioned EC2 fleet names its launch template; "${compute.launchTemplate}" is an id`);
    }
    const fleet = new Ec2Fleet(this, 'fleet', {
      fleet: spec.name,
      region: provision.region,
      launchTemplateName: compute.launchTemplate,
      subnets: compute.subnets,
      image: provision.image,
      securityGroups: provision.securityGroups,
      userData: props.ec2UserData,
      tags,
    });
    this.output('launch_template', fleet.launchTemplateName);
    this.output('launch_template_id', fleet.launchTemplateId);
    this.output('subnets', compute.subnets);
    this.output('security_groups', fleet.securityGroupIds);
  }

  private output(name: FleetOutputName, value: string | readonly string[]): void {
    new TerraformOutput(this, name, { value }).overrideLogicalId(name);
  }
}
