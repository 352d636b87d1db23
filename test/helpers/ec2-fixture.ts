import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2ServiceException,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { fleetSpecSchema, type FleetSpec, type FleetSpecInput } from '../../src/fleets/spec.js';
import { clientsFor } from './aws-fixture.js';
import type { Moto } from './moto.js';

/** A valid EC2 fleet for tests; `overrides` replace top-level keys, `compute` merges. */
export function ec2Fleet(overrides: Omit<Partial<FleetSpecInput>, 'compute'> & { compute?: Record<string, unknown> } = {}): FleetSpec {
  const { compute, ...rest } = overrides;
  return fleetSpecSchema.parse({
    name: 'linux-vm',
    labels: ['self-hosted', 'linux', 'vm'],
    maxRunners: 20,
    ...rest,
    compute: {
      type: 'ec2',
      launchTemplate: 'fleetbot-linux-vm',
      instanceTypes: ['m7i.large'],
      subnets: ['subnet-0a'],
      ...compute,
    },
  });
}

/** An error as the SDK raises it for an EC2 error code. */
export function ec2Error(code: string, message = `${code} (test)`): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
}

/** What an EC2 fleet needs in AWS, created in moto the way the fleet's Terraform would. */
export interface Ec2RunnerInfra {
  subnetIds: string[];
  imageId: string;
  launchTemplateId: string;
  launchTemplateName: string;
}

/**
 * `subnetCidrs` lie in 10.1.0.0/16. A /24 holds 251 instances, and moto frees no address when an
 * instance terminates (it answers HTTP 500 once a subnet is full): a long run needs larger subnets.
 */
export async function createEc2RunnerInfra(
  moto: Moto,
  launchTemplateName = 'fleetbot-linux-vm',
  subnetCidrs: readonly string[] = ['10.1.1.0/24', '10.1.2.0/24'],
): Promise<Ec2RunnerInfra> {
  const { ec2 } = clientsFor(moto);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' }));
  const subnetIds: string[] = [];
  for (const cidr of subnetCidrs) {
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: cidr }));
    subnetIds.push(subnet.Subnet!.SubnetId!);
  }
  // moto ships Amazon's public AMIs.
  const images = await ec2.send(
    new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['amzn2-ami-hvm-*'] }] }),
  );
  const imageId = images.Images![0].ImageId!;
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: launchTemplateName,
      LaunchTemplateData: {
        ImageId: imageId,
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', InstanceMetadataTags: 'enabled' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'ci' }] }],
      },
    }),
  );
  return { subnetIds, imageId, launchTemplateId: template.LaunchTemplate!.LaunchTemplateId!, launchTemplateName };
}

/** Every instance in moto, in any state (moto pages DescribeInstances at 100 instances). */
export async function allInstances(moto: Moto): Promise<Instance[]> {
  const { ec2 } = clientsFor(moto);
  const instances: Instance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstancesCommand({ NextToken: nextToken }));
    instances.push(...(page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return instances;
}

export async function instanceById(moto: Moto, instanceId: string): Promise<Instance> {
  const result = await clientsFor(moto).ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return result.Reservations![0].Instances![0];
}

/** The tags of the volumes attached to the instance, one list per volume. */
export async function volumeTags(moto: Moto, instanceId: string): Promise<Tag[][]> {
  const result = await clientsFor(moto).ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
  );
  return (result.Volumes ?? []).map((volume) => volume.Tags ?? []);
}

export function tagsAsRecord(tags: readonly Tag[] | undefined): Record<string, string | undefined> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key, tag.Value]));
}
