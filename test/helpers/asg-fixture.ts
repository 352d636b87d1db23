import { createServer } from 'node:http';
import {
  AutoScalingClient,
  AutoScalingServiceException,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { fleetSpecSchema, type FleetSpec, type FleetSpecInput } from '../../src/fleets/spec.js';
import { clientsFor } from './aws-fixture.js';
import type { Moto } from './moto.js';
import { forwardTo, listenOnLoopback } from './proxy.js';

/** A valid Auto Scaling fleet for tests; `overrides` replace top-level keys, `compute` merges. */
export function asgFleet(overrides: Omit<Partial<FleetSpecInput>, 'compute'> & { compute?: Record<string, unknown> } = {}): FleetSpec {
  const { compute, ...rest } = overrides;
  return fleetSpecSchema.parse({
    name: 'linux-asg',
    labels: ['self-hosted', 'linux', 'asg'],
    maxRunners: 20,
    ...rest,
    compute: { type: 'asg', autoScalingGroup: 'fleetbot-linux-asg', ...compute },
  });
}

/** An error as the SDK raises it for an Auto Scaling error code. */
export function autoScalingError(code: string, message = `${code} (test)`): AutoScalingServiceException {
  return new AutoScalingServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
}

export function autoScalingClientFor(moto: Moto, endpoint = moto.url): AutoScalingClient {
  return new AutoScalingClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** A VPC subnet and a launch template for groups, created in moto the way an operator's Terraform would. */
export interface AsgRunnerInfra {
  subnetId: string;
  launchTemplateName: string;
}

export async function createAsgRunnerInfra(moto: Moto, launchTemplateName = 'fleetbot-asg-runner'): Promise<AsgRunnerInfra> {
  const { ec2 } = clientsFor(moto);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16' }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.2.1.0/24' }));
  const images = await ec2.send(
    new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['amzn2-ami-hvm-*'] }] }),
  );
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: launchTemplateName,
      // No user data: moto fails SetDesiredCapacity > 0 for a template that has some.
      LaunchTemplateData: {
        ImageId: images.Images![0].ImageId!,
        InstanceType: 'm7i.large',
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', InstanceMetadataTags: 'enabled' },
      },
    }),
  );
  return { subnetId: subnet.Subnet!.SubnetId!, launchTemplateName };
}

export async function createGroup(
  moto: Moto,
  infra: AsgRunnerInfra,
  name: string,
  sizes: { maxSize: number; minSize?: number } = { maxSize: 10 },
): Promise<void> {
  await autoScalingClientFor(moto).send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateName: infra.launchTemplateName, Version: '$Latest' },
      MinSize: sizes.minSize ?? 0,
      MaxSize: sizes.maxSize,
      DesiredCapacity: sizes.minSize ?? 0,
      VPCZoneIdentifier: infra.subnetId,
    }),
  );
}

export async function groupNamed(moto: Moto, name: string): Promise<AutoScalingGroup> {
  const result = await autoScalingClientFor(moto).send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return result.AutoScalingGroups![0];
}

/**
 * An HTTP proxy in front of moto for Query-protocol services (Auto Scaling, EC2), whose action is a
 * form field of the body: it answers the next `times` calls of an action with an error, then passes
 * calls through, so a real SDK client meets real error answers.
 */
export interface QueryFaultProxy {
  url: string;
  /** Calls seen per action, failed or not. */
  calls: Map<string, number>;
  failNext(action: string, times: number, status: number, code: string): void;
  close(): Promise<void>;
}

export async function startQueryFaultProxy(targetUrl: string): Promise<QueryFaultProxy> {
  const target = new URL(targetUrl);
  const faults = new Map<string, { left: number; status: number; code: string }>();
  const calls = new Map<string, number>();
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
      calls.set(action, (calls.get(action) ?? 0) + 1);
      const fault = faults.get(action);
      if (fault && fault.left > 0) {
        fault.left--;
        const xml =
          '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">' +
          `<Error><Type>Sender</Type><Code>${fault.code}</Code><Message>${fault.code} (injected)</Message></Error>` +
          '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>';
        outgoing.writeHead(fault.status, { 'content-type': 'text/xml' }).end(xml);
        return;
      }
      forwardTo(target, incoming, outgoing, body);
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    calls,
    failNext: (action, times, status, code) => faults.set(action, { left: times, status, code }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
