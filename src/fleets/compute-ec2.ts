import { z } from 'zod';
import { accept, list, mustBeEmpty, quote, reject, type ListRule } from './checks.js';
import { RUNNER_IMAGE_SOURCE, type ProvisionedComputeKind } from './compute-kinds.js';
import { awsRegion, provisionSchema, securityGroupId, subnetId, type Ec2Compute, type FleetProvision } from './spec.js';

/** EC2 instances from a launch template, as IssueOps requests them and `fleetbot synth` builds them (cdktf/constructs/ec2-fleet.ts). */

const sizedByInstanceTypes = 'must be empty for EC2: the instance types set the size';

const instanceTypeRule: ListRule = {
  pattern: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/,
  entry: 'EC2 instance types like m7i.large',
  noun: 'instance types',
  max: 10,
};

function instanceTypes(text: string | undefined) {
  const required = `required for EC2: expected comma-separated ${instanceTypeRule.entry}, tried in order`;
  if (text === undefined) return reject(required);
  const types = list(text, instanceTypeRule);
  if ('problem' in types) return types;
  return types.value.length === 0 ? reject(required) : types;
}

const amiId = /^ami-[0-9a-f]{8,17}$/;
const amiNameFilter = /^[A-Za-z0-9][A-Za-z0-9 ()[\]./'@_*?-]{2,127}$/;
const amiRule =
  'an AMI id like ami-0123456789abcdef0 or an AMI name filter like fleetbot-runner-* ' + "(3-128 letters, digits, spaces and ()[]./'@_*?-)";

// synth's check of an image: an id must be a whole one; anything else is a name filter.
const amiImage = provisionSchema.shape.image.refine(
  (image) => !image.startsWith('ami-') || /^ami-[0-9a-f]{8,17}$/.test(image),
  'expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits), or an AMI name filter like fleetbot-runner-*',
);

const notForEc2 = 'applies to ECS Fargate fleets; an EC2 fleet is sized by compute.instanceTypes';
const flagsSchema = z
  .object({
    region: awsRegion,
    image: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? 'required: an AMI id like ami-0123456789abcdef0, or an AMI name filter like fleetbot-runner-* (see images/ec2/README.md)'
            : undefined,
      })
      .pipe(amiImage),
    cpu: z.undefined({ error: notForEc2 }),
    memory: z.undefined({ error: notForEc2 }),
    securityGroups: z.array(securityGroupId),
  })
  .transform((flags): FleetProvision => ({ region: flags.region, image: flags.image, securityGroups: flags.securityGroups }));

const ec2Outputs = z.object({
  launch_template: z.string().min(1),
  launch_template_id: z.string().regex(/^lt-[0-9a-f]+$/),
  subnets: z.array(subnetId).min(1),
  security_groups: z.array(securityGroupId).min(1),
});

export const ec2Kind: ProvisionedComputeKind<Ec2Compute, { instanceTypes?: string[] }, z.infer<typeof ec2Outputs>> = {
  label: 'EC2',

  summaryRows: (compute) => [
    ['Compute', compute.spot ? 'EC2 (spot, then on-demand)' : 'EC2'],
    ['Instance types', compute.instanceTypes.join(', ')],
  ],
  placementRows: (compute) => [['Subnets', compute.subnets.join(', ')]],

  // The construct creates the launch template the compute section names, which boots the GitHub Actions runner.
  unbuildableReason(spec, compute) {
    const { name } = spec;
    if (compute.launchTemplate.startsWith('lt-')) {
      return (
        `fleet ${name}: compute.launchTemplate is an id (${compute.launchTemplate}); synth creates the launch template, ` +
        `so the fleets file must name it (e.g. fleetbot-${name})`
      );
    }
    if (spec.ci !== 'github') {
      return (
        `fleet ${name} serves ${spec.ci} on EC2, but the launch template synth writes boots the GitHub Actions runner ` +
        `(images/ec2/runner-user-data.sh); give the fleet compute.type: ecs with the runner image of ${RUNNER_IMAGE_SOURCE[spec.ci]}, ` +
        'or build its launch template yourself (see images/ec2/README.md)'
      );
    }
    return undefined;
  },

  image: {
    noun: 'an AMI',
    rule: amiRule,
    check(text) {
      if (text.startsWith('ami-') && !amiId.test(text)) {
        return reject(`expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits); got ${quote(text)}`);
      }
      return amiId.test(text) || amiNameFilter.test(text) ? accept(text) : reject(`expected ${amiRule}; got ${quote(text)}`);
    },
  },
  readSizing(read) {
    read('vcpu', mustBeEmpty(sizedByInstanceTypes));
    read('memory', mustBeEmpty(sizedByInstanceTypes));
    return { instanceTypes: read('instance-types', instanceTypes) };
  },
  request: (fleet, sizing) => ({
    compute: {
      type: 'ec2',
      launchTemplate: fleet.resourceName,
      instanceTypes: sizing.instanceTypes,
      subnets: fleet.subnets,
      spot: fleet.spot,
    },
    provision: { region: fleet.region, image: fleet.image, securityGroups: fleet.securityGroups, requestIssue: fleet.requestIssue },
  }),

  outputs: {
    names: ['launch_template', 'launch_template_id', 'subnets', 'security_groups'],
    schema: ec2Outputs,
    // The template's security groups travel inside the template; the compute section names it and the subnets.
    live: (compute, live) => ({ ...compute, launchTemplate: live.launch_template, subnets: live.subnets }),
  },

  synth: {
    provisionProblems(_compute, provision) {
      const image = amiImage.safeParse(provision.image);
      return image.success ? [] : [`provision.image: ${image.error.issues[0].message}; got ${provision.image}`];
    },
    flags: (values) => ({ raw: values, schema: flagsSchema }),
    inputLines: (provision) => [
      provision.securityGroups.length > 0
        ? `security groups ${provision.securityGroups.join(', ')} (--security-group)`
        : "security group: a new one, in the subnets' VPC (no --security-group)",
    ],
    nextSteps: () => [],
  },
};
