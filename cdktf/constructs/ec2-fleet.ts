import { Construct } from 'constructs';
import { DataAwsAmi } from '@cdktf/provider-aws/lib/data-aws-ami/index.js';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template/index.js';
import type { ec2Kind } from '../../src/fleets/compute-ec2.js';
import type { Ec2Compute } from '../../src/fleets/spec.js';
import type { FleetBuilder } from './fleet-builder.js';
import { RunnerRole } from './runner-iam.js';
import { RunnerSecurityGroup } from './runner-security-group.js';

export interface Ec2FleetProps {
  fleet: string;
  region: string;
  /** The launch template's name, from the fleet's compute section. */
  launchTemplateName: string;
  subnets: readonly string[];
  /** An AMI id, or a name filter (`*` wildcards) for the newest matching AMI of IMAGE_OWNERS. */
  image: string;
  /** Security groups to run in; when empty the construct creates one. */
  securityGroups: readonly string[];
  /** The boot script (not yet base64): it fetches the runner's credential and runs one job. */
  userData: string;
  tags: Record<string, string>;
}

/** Whose AMIs a name filter may pick: the account's own (a baked runner image), Amazon's, Canonical's. */
export const IMAGE_OWNERS = ['self', 'amazon', '099720109477'] as const;

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

/**
 * An EC2 fleet: a launch template for single-job instances that terminate when they shut down, their
 * instance profile, and a security group if none is given. Instance types, spot and subnets are chosen
 * by the app per launch.
 */
export class Ec2Fleet extends Construct {
  readonly launchTemplateName: string;
  readonly launchTemplateId: string;
  readonly securityGroupIds: string[];

  constructor(scope: Construct, id: string, props: Ec2FleetProps) {
    super(scope, id);
    const { fleet, tags } = props;

    const imageId = this.imageId(props.image);
    const runner = new RunnerRole(this, 'instance-role', {
      fleet,
      region: props.region,
      roleName: `fleetbot-${fleet}-instance`,
      service: 'ec2.amazonaws.com',
      tags,
    });
    const profile = new IamInstanceProfile(this, 'instance-profile', { name: `fleetbot-${fleet}-instance`, role: runner.role.name, tags });

    this.securityGroupIds =
      props.securityGroups.length > 0
        ? [...props.securityGroups]
        : [new RunnerSecurityGroup(this, 'security-group', { fleet, subnetId: props.subnets[0], tags }).group.id];

    // No `tags` on the template itself: moto echoes them back as tag specifications, which makes every
    // plan after apply show a change. The instances and volumes it launches carry the fleet's tags.
    const template = new LaunchTemplate(this, 'launch-template', {
      name: props.launchTemplateName,
      description: `fleetbot fleet ${fleet}: one instance per job, terminated when the job ends`,
      imageId,
      instanceInitiatedShutdownBehavior: 'terminate',
      iamInstanceProfile: { arn: profile.arn },
      vpcSecurityGroupIds: this.securityGroupIds,
      metadataOptions: {
        httpEndpoint: 'enabled',
        // IMDSv2 only; instance tags readable from IMDS, which is how the runner learns its name.
        httpTokens: 'required',
        instanceMetadataTags: 'enabled',
      },
      userData: Buffer.from(props.userData, 'utf8').toString('base64'),
      updateDefaultVersion: true,
      tagSpecifications: [
        { resourceType: 'instance', tags },
        { resourceType: 'volume', tags },
      ],
    });

    this.launchTemplateName = template.name;
    this.launchTemplateId = template.id;
  }

  /** An AMI id as given; a name filter, the newest available AMI it matches. */
  private imageId(image: string): string {
    if (AMI_ID.test(image)) return image;
    return new DataAwsAmi(this, 'image', {
      mostRecent: true,
      owners: [...IMAGE_OWNERS],
      filter: [
        { name: 'name', values: [image] },
        { name: 'state', values: ['available'] },
      ],
    }).id;
  }
}

/** An `ec2` fleet's stack: the launch template the compute section names, and the outputs the app reads back. */
export const buildEc2Fleet: FleetBuilder<Ec2Compute, (typeof ec2Kind)['outputs']['names'][number]> = (
  scope,
  { spec, compute, provision, tags, userData },
) => {
  if (compute.launchTemplate.startsWith('lt-')) {
    throw new Error(`fleet ${spec.name}: a provisioned EC2 fleet names its launch template; "${compute.launchTemplate}" is an id`);
  }
  const fleet = new Ec2Fleet(scope, 'fleet', {
    fleet: spec.name,
    region: provision.region,
    launchTemplateName: compute.launchTemplate,
    subnets: compute.subnets,
    image: provision.image,
    securityGroups: provision.securityGroups,
    userData: userData(),
    tags,
  });
  return {
    launch_template: fleet.launchTemplateName,
    launch_template_id: fleet.launchTemplateId,
    subnets: compute.subnets,
    security_groups: fleet.securityGroupIds,
  };
};
