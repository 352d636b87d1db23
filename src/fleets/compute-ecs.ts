import { z } from 'zod';
import { accept, mustBeEmpty, quote, reject, type Check } from './checks.js';
import { RUNNER_IMAGE_SOURCE, type ProvisionedComputeKind } from './compute-kinds.js';
import { FARGATE_MEMORY_GIB } from './fargate-sizes.js';
import { awsRegion, provisionSchema, securityGroupId, subnetId, type EcsCompute, type FleetProvision } from './spec.js';

/** ECS Fargate, as IssueOps requests it and `fleetbot synth` builds it (cdktf/constructs/ecs-fargate-fleet.ts). */

/** A Fargate task size when the provision block names none: 1 vCPU, 2 GiB. */
export const DEFAULT_FARGATE_CPU = 1024;
export const DEFAULT_FARGATE_MEMORY_MIB = 2048;
/** For every vCPU size, the smallest memory Fargate allows is 2 GiB per vCPU: synth's default. */
const DEFAULT_GIB_PER_VCPU = 2;
const DEFAULT_VCPU = 1;
const FARGATE_PROVIDERS: readonly string[] = ['FARGATE', 'FARGATE_SPOT'];

const decimalText = /^\d+(\.\d+)?$/;
const sizedByFargate = 'must be empty for ECS Fargate: vCPU and Memory (GiB) set the size';

function fargateVcpu(text: string | undefined): Check<number> {
  const choices = [...FARGATE_MEMORY_GIB.keys()].join(', ');
  if (text === undefined) return reject(`required for ECS Fargate: expected one of ${choices}`);
  const vcpu = decimalText.test(text) ? Number(text) : Number.NaN;
  return FARGATE_MEMORY_GIB.has(vcpu) ? accept(vcpu) : reject(`expected one of ${choices}; got ${quote(text)}`);
}

/** Without a valid vCPU only the form of the answer can be checked; the vCPU problem comes first. */
function fargateMemory(text: string | undefined, vcpu: number | undefined): Check<number> {
  const allowed = vcpu === undefined ? undefined : FARGATE_MEMORY_GIB.get(vcpu);
  const expected = allowed ? `one of ${allowed.join(', ')} for ${vcpu} vCPU` : 'a size in GiB, e.g. 8';
  if (text === undefined) return reject(`required for ECS Fargate: expected ${expected}`);
  const gib = decimalText.test(text) ? Number(text) : Number.NaN;
  const valid = allowed ? allowed.includes(gib) : Number.isFinite(gib);
  return valid ? accept(gib) : reject(`expected ${expected}; got ${quote(text)}`);
}

function fargateSizeProblem(vcpu: number, gib: number): string | undefined {
  const allowed = FARGATE_MEMORY_GIB.get(vcpu);
  if (allowed === undefined) return `expected a vCPU of ${[...FARGATE_MEMORY_GIB.keys()].join(', ')}; got ${vcpu}`;
  return allowed.includes(gib) ? undefined : `expected one of ${allowed.join(', ')} GiB for ${vcpu} vCPU; got ${gib}`;
}

const imageHost = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const imagePathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** [registry[:port]/]path[:tag][@sha256:digest], the repository path in lowercase. */
const containerImagePattern = new RegExp(
  `^(?:${imageHost}(?:\\.${imageHost})*(?::[0-9]{1,5})?/)?` +
    `${imagePathComponent}(?:/${imagePathComponent})*` +
    '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$',
);
const containerImageRule =
  'a container image like 123456789012.dkr.ecr.us-east-1.amazonaws.com/runner:2.330.0 ' +
  '(lowercase repository, optional :tag and @sha256:digest)';

// synth's looser check: a container image has no spaces or wildcards (those are AMI name filters) and is not an AMI id.
const containerImage = provisionSchema.shape.image.refine(
  (image) => !/^ami-|[ *?()[\]']/.test(image),
  'expected a container image like ghcr.io/acme/runner:2.330.0, not an AMI',
);
const decimal = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'expected a number like 1 or 0.5')
  .transform(Number);

const ecsOutputs = z.object({
  cluster: z.string().min(1),
  task_definition: z.string().min(1),
  container_name: z.string().min(1),
  subnets: z.array(subnetId).min(1),
  security_groups: z.array(securityGroupId).min(1),
});

function flagsSchema(image: string, securityGroups: string[]) {
  return z
    .object({
      region: awsRegion,
      image: z.string({ error: (issue) => (issue.input === undefined ? `required: ${image}` : undefined) }).pipe(containerImage),
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

export const ecsKind: ProvisionedComputeKind<EcsCompute, { vcpu?: number; memoryGiB?: number }, z.infer<typeof ecsOutputs>> = {
  label: 'ECS Fargate',

  summaryRows(compute, provision) {
    const spot = compute.capacityProviders?.includes('FARGATE_SPOT');
    const rows: [string, string][] = [['Compute', spot ? 'ECS Fargate (spot, then on-demand)' : 'ECS Fargate']];
    if (provision?.cpu && provision.memoryMiB) rows.push(['Size', `${provision.cpu / 1024} vCPU, ${provision.memoryMiB / 1024} GiB`]);
    return rows;
  },
  placementRows: (compute) => [['Subnets', compute.subnets.join(', ')]],

  // The construct builds a Fargate cluster and task definition: the compute section must name them, not point at them.
  unbuildableReason({ name }, compute) {
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
      return (
        `fleet ${name} runs its tasks on EC2 container instances (launchType EC2 or an Auto Scaling group capacity provider); ` +
        'synth builds Fargate clusters and task definitions only'
      );
    }
    return undefined;
  },

  image: {
    noun: 'a container image',
    rule: containerImageRule,
    check(text) {
      const valid = text.length <= 255 && containerImagePattern.test(text);
      return valid ? accept(text) : reject(`expected ${containerImageRule}; got ${quote(text)}`);
    },
  },
  readSizing(read) {
    const vcpu = read('vcpu', fargateVcpu);
    const memoryGiB = read('memory', (text) => fargateMemory(text, vcpu));
    read('instance-types', mustBeEmpty(sizedByFargate));
    return { vcpu, memoryGiB };
  },
  request(fleet, { vcpu, memoryGiB }) {
    const compute = {
      type: 'ecs',
      cluster: fleet.resourceName,
      taskDefinition: fleet.resourceName,
      containerName: 'runner',
      subnets: fleet.subnets,
      securityGroups: fleet.securityGroups,
      assignPublicIp: fleet.assignPublicIp,
      // Without spot the launch type FARGATE is the same capacity, and needs no strategy.
      ...(fleet.spot ? { capacityProviders: ['FARGATE_SPOT', 'FARGATE'] } : {}),
    };
    const provision = {
      region: fleet.region,
      image: fleet.image,
      cpu: vcpu! * 1024,
      memoryMiB: memoryGiB! * 1024,
      securityGroups: fleet.securityGroups,
      requestIssue: fleet.requestIssue,
    };
    return { compute, provision };
  },

  outputs: {
    names: ['cluster', 'task_definition', 'container_name', 'subnets', 'security_groups'],
    schema: ecsOutputs,
    live: (compute, live) => ({
      ...compute,
      cluster: live.cluster,
      taskDefinition: live.task_definition,
      containerName: live.container_name,
      subnets: live.subnets,
      securityGroups: live.security_groups,
    }),
  },

  synth: {
    provisionProblems(_compute, provision) {
      const problems: string[] = [];
      const image = containerImage.safeParse(provision.image);
      if (!image.success) problems.push(`provision.image: ${image.error.issues[0].message}; got ${provision.image}`);
      const cpu = provision.cpu ?? DEFAULT_FARGATE_CPU;
      const memoryMiB = provision.memoryMiB ?? DEFAULT_FARGATE_MEMORY_MIB;
      const size = fargateSizeProblem(cpu / 1024, memoryMiB / 1024);
      if (size) problems.push(`provision.cpu and provision.memoryMiB (${cpu} CPU units, ${memoryMiB} MiB): ${size}`);
      return problems;
    },
    flags(values, spec, compute) {
      const image = `the runner's container image (built from ${RUNNER_IMAGE_SOURCE[spec.ci]}), e.g. ghcr.io/acme/runner:2.330.0`;
      return { raw: { ...values, cpu: values.cpu ?? String(DEFAULT_VCPU) }, schema: flagsSchema(image, compute.securityGroups) };
    },
    inputLines: (provision, sizeSource) => [
      `size ${provision.cpu! / 1024} vCPU, ${provision.memoryMiB! / 1024} GiB (${sizeSource})`,
      provision.securityGroups.length > 0
        ? `security groups ${provision.securityGroups.join(', ')} (compute.securityGroups)`
        : "security group: a new one, in the subnets' VPC (compute.securityGroups is empty)",
    ],
    // The app launches tasks into compute.securityGroups, so a group Terraform creates must be written there.
    nextSteps: (spec, provision, { fleetsFile, chdir }) =>
      provision.securityGroups.length > 0
        ? []
        : [
            `Then set compute.securityGroups of fleet ${spec.name} in ${fleetsFile} to the group Terraform created:`,
            `  ${chdir} output -json security_groups`,
          ],
  },
};
