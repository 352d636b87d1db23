import { z } from 'zod';
import { FARGATE_MEMORY_GIB } from '../fleets/fargate-sizes.js';
import { awsRegion, provisionSchema, securityGroupId, type CiSystem, type FleetProvision, type FleetSpec } from '../fleets/spec.js';
import { formatZodIssues } from '../zod-issues.js';

/**
 * What `fleetbot synth` builds a fleets-file fleet from: the fleet's own `provision` block when it has
 * one (as IssueOps writes it), else the command's flags and their defaults. Pure: no files, no cdktf.
 */

/** The flags that stand in for a provision block, as parseArgs gives them (strings). */
export interface ProvisionFlags {
  region?: string;
  image?: string;
  /** vCPU, as the IssueOps request form asks: 0.25, 0.5, 1, 2, 4, 8 or 16. */
  cpu?: string;
  /** GiB, as the IssueOps request form asks. */
  memory?: string;
  securityGroups?: string[];
}

export type ProvisionedSpec = FleetSpec & { provision: FleetProvision };

export type SynthInput =
  /** `inputs`: one line per input, with where it came from, for the command's report. */
  { ok: true; spec: ProvisionedSpec; inputs: string[] } | { ok: false; problems: string[] };

/** Without --region and AWS_REGION. The app's own region comes from AWS_REGION, as its runners' must. */
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_VCPU = 1;
/** For every vCPU size, the smallest memory Fargate allows is 2 GiB per vCPU: the default. */
const DEFAULT_GIB_PER_VCPU = 2;
/** What cdktf/fleet-stack.ts builds for a provision block without cpu or memoryMiB. */
const STACK_DEFAULT_SIZE = { cpu: 1024, memoryMiB: 2048 };

/** Where each CI system's runner image is built from: the --image hint names it. */
const RUNNER_IMAGE_SOURCE: Record<CiSystem, string> = {
  github: 'images/github-runner',
  gitlab: 'images/gitlab-runner',
  circleci: 'images/circleci-runner',
};

const FARGATE_PROVIDERS: readonly string[] = ['FARGATE', 'FARGATE_SPOT'];

/**
 * Why synth cannot build this fleet with the constructs IssueOps uses, or undefined when it can. The
 * constructs build a Fargate cluster and task definition, or an EC2 launch template that boots the
 * GitHub Actions runner; they create what the compute section names, so it must name, not point.
 */
export function unsupportedFleetReason(spec: FleetSpec): string | undefined {
  const { compute, name } = spec;
  const kinds = 'fleetbot synth builds ECS Fargate fleets (compute.type: ecs) and EC2 fleets (compute.type: ec2)';
  if (compute.type === 'asg') {
    return `fleet ${name} runs on the Auto Scaling group ${compute.autoScalingGroup}, which is built outside fleetbot; ${kinds}`;
  }
  if (compute.type === 'ecs') {
    if (compute.cluster.startsWith('arn:')) {
      return `fleet ${name}: compute.cluster is an ARN; synth creates the cluster, so the fleets file must name it (e.g. fleetbot-${name})`;
    }
    if (compute.taskDefinition.includes(':')) {
      return (
        `fleet ${name}: compute.taskDefinition "${compute.taskDefinition}" is a revision or an ARN; synth creates the task ` +
        'definition family, and the app then runs its latest revision, so the fleets file must name the family only'
      );
    }
    const onEc2 = compute.launchType === 'EC2' || compute.capacityProviders?.some((provider) => !FARGATE_PROVIDERS.includes(provider));
    if (onEc2) {
      return `fleet ${name} runs its tasks on EC2 container instances (launchType EC2 or an Auto Scaling group capacity provider); synth builds Fargate clusters and task definitions only`;
    }
    return undefined;
  }
  if (compute.launchTemplate.startsWith('lt-')) {
    return `fleet ${name}: compute.launchTemplate is an id (${compute.launchTemplate}); synth creates the launch template, so the fleets file must name it (e.g. fleetbot-${name})`;
  }
  if (spec.ci !== 'github') {
    return (
      `fleet ${name} serves ${spec.ci} on EC2, but the launch template synth writes boots the GitHub Actions runner ` +
      `(images/ec2/runner-user-data.sh); give the fleet compute.type: ecs with the runner image of ${RUNNER_IMAGE_SOURCE[spec.ci]}, ` +
      'or build its launch template yourself (see images/ec2/README.md)'
    );
  }
  return undefined;
}

// A container image has no spaces or wildcards (those are AMI name filters) and is not an AMI id.
const containerImage = provisionSchema.shape.image.refine(
  (image) => !/^ami-|[ *?()[\]']/.test(image),
  'expected a container image like ghcr.io/acme/runner:2.330.0, not an AMI',
);
const amiImage = provisionSchema.shape.image.refine(
  (image) => !image.startsWith('ami-') || /^ami-[0-9a-f]{8,17}$/.test(image),
  'expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits), or an AMI name filter like fleetbot-runner-*',
);
const decimal = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'expected a number like 1 or 0.5')
  .transform(Number);

function required(what: string) {
  return { error: (issue: { input: unknown }) => (issue.input === undefined ? `required: ${what}` : undefined) };
}

function fargateSizeProblem(vcpu: number, gib: number): string | undefined {
  const allowed = FARGATE_MEMORY_GIB.get(vcpu);
  if (allowed === undefined) return `expected a vCPU of ${[...FARGATE_MEMORY_GIB.keys()].join(', ')}; got ${vcpu}`;
  return allowed.includes(gib) ? undefined : `expected one of ${allowed.join(', ')} GiB for ${vcpu} vCPU; got ${gib}`;
}

function fargateFlags(spec: FleetSpec) {
  const securityGroups = spec.compute.type === 'ecs' ? spec.compute.securityGroups : [];
  return z
    .object({
      region: awsRegion,
      image: z
        .string(required(`the runner's container image (built from ${RUNNER_IMAGE_SOURCE[spec.ci]}), e.g. ghcr.io/acme/runner:2.330.0`))
        .pipe(containerImage),
      cpu: decimal.refine((vcpu) => FARGATE_MEMORY_GIB.has(vcpu), `expected one of ${[...FARGATE_MEMORY_GIB.keys()].join(', ')} (vCPU)`),
      memory: decimal.optional(),
      securityGroups: z
        .array(z.string())
        .max(0, 'an ECS fleet runs in its compute.securityGroups: set them in the fleets file (none: Terraform creates a group)'),
    })
    .superRefine((flags, ctx) => {
      // An invalid vCPU is --cpu's problem alone.
      if (flags.memory === undefined || !FARGATE_MEMORY_GIB.has(flags.cpu)) return;
      const problem = fargateSizeProblem(flags.cpu, flags.memory);
      if (problem) ctx.addIssue({ code: 'custom', path: ['memory'], message: problem });
    })
    .transform((flags): FleetProvision => ({
      region: flags.region,
      image: flags.image,
      cpu: flags.cpu * 1024,
      memoryMiB: (flags.memory ?? flags.cpu * DEFAULT_GIB_PER_VCPU) * 1024,
      securityGroups,
    }));
}

const ec2Flags = z
  .object({
    region: awsRegion,
    image: z
      .string(required('an AMI id like ami-0123456789abcdef0, or an AMI name filter like fleetbot-runner-* (see images/ec2/README.md)'))
      .pipe(amiImage),
    cpu: z.undefined({ error: 'applies to ECS Fargate fleets; an EC2 fleet is sized by compute.instanceTypes' }),
    memory: z.undefined({ error: 'applies to ECS Fargate fleets; an EC2 fleet is sized by compute.instanceTypes' }),
    securityGroups: z.array(securityGroupId),
  })
  .transform((flags): FleetProvision => ({ region: flags.region, image: flags.image, securityGroups: flags.securityGroups }));

const FLAG_NAMES = { region: '--region', image: '--image', cpu: '--cpu', memory: '--memory', securityGroups: '--security-group' } as const;

function sizeSource(flags: ProvisionFlags): string {
  if (flags.cpu === undefined) return flags.memory === undefined ? 'default' : '--memory; vCPU by default';
  return flags.memory === undefined ? '--cpu; memory by default' : '--cpu, --memory';
}

/** The fleet with its provision block: its own, or one made from the flags. */
export function resolveSynthInput(spec: FleetSpec, flags: ProvisionFlags, env: NodeJS.ProcessEnv): SynthInput {
  return spec.provision ? fromProvisionBlock(spec, spec.provision, flags) : fromFlags(spec, flags, env);
}

function fromProvisionBlock(spec: FleetSpec, provision: FleetProvision, flags: ProvisionFlags): SynthInput {
  const given = (Object.keys(FLAG_NAMES) as (keyof ProvisionFlags)[]).filter((key) =>
    key === 'securityGroups' ? (flags.securityGroups ?? []).length > 0 : flags[key] !== undefined,
  );
  const problems = given.map(
    (key) =>
      `${FLAG_NAMES[key]}: fleet ${spec.name} has a provision block in the fleets file, which sets the region, image, size and ` +
      'security groups; drop the flag, or remove the block to build from flags',
  );
  if (spec.compute.type === 'ecs') {
    const image = containerImage.safeParse(provision.image);
    if (!image.success) problems.push(`provision.image: ${image.error.issues[0].message}; got ${provision.image}`);
    const cpu = provision.cpu ?? STACK_DEFAULT_SIZE.cpu;
    const memoryMiB = provision.memoryMiB ?? STACK_DEFAULT_SIZE.memoryMiB;
    const size = fargateSizeProblem(cpu / 1024, memoryMiB / 1024);
    if (size) problems.push(`provision.cpu and provision.memoryMiB (${cpu} CPU units, ${memoryMiB} MiB): ${size}`);
  } else {
    const image = amiImage.safeParse(provision.image);
    if (!image.success) problems.push(`provision.image: ${image.error.issues[0].message}; got ${provision.image}`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, spec: { ...spec, provision }, inputs: [`region, image, size and security groups: the fleet's provision block`] };
}

function fromFlags(spec: FleetSpec, flags: ProvisionFlags, env: NodeJS.ProcessEnv): SynthInput {
  const region = flags.region ?? env.AWS_REGION ?? DEFAULT_REGION;
  const regionSource = flags.region !== undefined ? '--region' : env.AWS_REGION !== undefined ? 'AWS_REGION' : 'default';
  const raw = {
    region,
    image: flags.image,
    cpu: spec.compute.type === 'ecs' ? (flags.cpu ?? String(DEFAULT_VCPU)) : flags.cpu,
    memory: flags.memory,
    securityGroups: flags.securityGroups ?? [],
  };
  const parsed = spec.compute.type === 'ecs' ? fargateFlags(spec).safeParse(raw) : ec2Flags.safeParse(raw);
  if (!parsed.success) {
    const names: Record<string, string> = { ...FLAG_NAMES, region: regionSource === 'AWS_REGION' ? 'AWS_REGION' : '--region' };
    const problems = formatZodIssues(parsed.error, {
      describePath: ([key, index]) => {
        const value = typeof index === 'number' ? ` ${raw.securityGroups[index]}` : '';
        return `${names[String(key)] ?? String(key)}${value}`;
      },
    });
    return { ok: false, problems };
  }
  const provision = parsed.data;
  const inputs = [`region ${provision.region} (${regionSource})`, `image ${provision.image} (--image)`];
  if (spec.compute.type === 'ecs') {
    inputs.push(`size ${provision.cpu! / 1024} vCPU, ${provision.memoryMiB! / 1024} GiB (${sizeSource(flags)})`);
    inputs.push(
      provision.securityGroups.length > 0
        ? `security groups ${provision.securityGroups.join(', ')} (compute.securityGroups)`
        : "security group: a new one, in the subnets' VPC (compute.securityGroups is empty)",
    );
  } else {
    inputs.push(
      provision.securityGroups.length > 0
        ? `security groups ${provision.securityGroups.join(', ')} (--security-group)`
        : "security group: a new one, in the subnets' VPC (no --security-group)",
    );
  }
  return { ok: true, spec: { ...spec, provision }, inputs };
}
