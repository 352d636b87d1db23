import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import type { FleetProvision, FleetSpec } from '../src/fleets/spec.js';
import type { ProviderSettings, TerraformBackend } from '../src/terraform/settings.js';
import { awsProvider, stateBackend } from './aws-provider.js';
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

/** Each compute type IssueOps provisions, and the construct that builds its fleets: a type without one is a compile error. */
const FLEET_BUILDERS: { [T in ProvisionedComputeType]: FleetBuilder<ComputeOf<T>, string> } = {
  ecs: buildEcsFargateFleet,
  ec2: buildEc2Fleet,
};

/** One Terraform stack per fleet: the AWS provider, the fleet's state backend, its resources and outputs. */
export class FleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id);
    awsProvider(this, props.provision.region, props.provider);
    stateBackend(this, props.spec.name, props.backend, props.provider);
    this.fleet(props);
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
