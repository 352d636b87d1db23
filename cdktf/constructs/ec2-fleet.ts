import { Construct } from 'constructs';
import { DataAwsAmi } from '@cdktf/provider-aws/lib/data-aws-ami/index.js';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template/index.js';
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

    const imageId = AMI_ID.test(props.image)
      ? props.image
      : new DataAwsAmi(this, 'image', {
          mostRecent: true,
          owners: [...IMAGE_OWNERS],
          filter: [
            { name: 'name', values: [props.image] },
            { name: 'state', values: ['available'] },
          ],
        }).id;

    const runner = new RunnerRole(this, 'instance-role', {
      fleet,
      region: props.region,
      roleName: `fleetbot-${fleet}-instance`,
      service: 'ec2.amazonaws.com',
      tags,
    });
    const profile = new IamInstanceProfile(this, 'instance-profile', {
      name: `fleetbot-${fleet}-instance`,
      role: runner.role.name,
      tags,
    });

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
}
