import { Construct } from 'constructs';
import { DataAwsSubnet } from '@cdktf/provider-aws/lib/data-aws-subnet/index.js';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group/index.js';

export interface RunnerSecurityGroupProps {
  fleet: string;
  /** Any of the fleet's subnets: the group is created in its VPC. */
  subnetId: string;
  tags: Record<string, string>;
}

/** For fleets that bring no security group: nothing comes in, anything may go out (GitHub, registries, SSM). */
export class RunnerSecurityGroup extends Construct {
  readonly group: SecurityGroup;

  constructor(scope: Construct, id: string, props: RunnerSecurityGroupProps) {
    super(scope, id);
    const subnet = new DataAwsSubnet(this, 'subnet', { id: props.subnetId });
    const name = `fleetbot-${props.fleet}-runners`;
    this.group = new SecurityGroup(this, 'group', {
      name,
      description: `fleetbot fleet ${props.fleet}: runners, egress only`,
      vpcId: subnet.vpcId,
      egress: [
        {
          description: 'Any outbound traffic',
          protocol: '-1',
          fromPort: 0,
          toPort: 0,
          cidrBlocks: ['0.0.0.0/0'],
          ipv6CidrBlocks: ['::/0'],
        },
      ],
      tags: { Name: name, ...props.tags },
    });
  }
}
