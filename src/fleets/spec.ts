import { Cron } from 'croner';
import { z } from 'zod';
import { awsRegion } from '../aws-region.js';

/**
 * FleetSpec: the single source of truth for a fleet, shared by the fleets file and IssueOps.
 * Every key is documented in the README's fleets file reference; keep the two in step.
 */

const fleetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected 1-40 characters of a-z, 0-9 and "-", starting with a letter or digit');

// GitHub labels are case-insensitive; a conservative charset keeps them safe in tags and runner names.
const runnerLabel = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1-64 characters of letters, digits, ".", "_" and "-"');

export const subnetId = z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet id like subnet-0123abcd');
export const securityGroupId = z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group id like sg-0123abcd');

// Names and ARNs by pattern: these values end up in Terraform JSON, where "${" would start an expression.
const ecsName = /[A-Za-z0-9_-]{1,255}/.source;
const ecsArn = (resource: string) => `arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:${resource}/${ecsName}`;
const clusterRef = z.string().regex(new RegExp(`^(${ecsName}|${ecsArn('cluster')})$`), 'expected a cluster name or ARN');
const taskDefinitionRef = z
  .string()
  .regex(
    new RegExp(`^(${ecsName}(:\\d+)?|${ecsArn('task-definition')}(:\\d+)?)$`),
    'expected a task definition family, family:revision or ARN',
  );

const FARGATE_CAPACITY_PROVIDERS: readonly string[] = ['FARGATE', 'FARGATE_SPOT'];

// ECS reserves the prefixes aws, ecs and fargate for its own providers; every other one is backed by an
// Auto Scaling group, so runs its tasks on EC2 container instances.
const capacityProvider = z
  .string()
  .refine(
    (name) => FARGATE_CAPACITY_PROVIDERS.includes(name) || (/^[A-Za-z0-9_-]{1,255}$/.test(name) && !/^(aws|ecs|fargate)/i.test(name)),
    'expected FARGATE, FARGATE_SPOT or the name of an Auto Scaling group capacity provider ' +
      '(1-255 letters, digits, "_" and "-", not starting with aws, ecs or fargate)',
  );

export const ECS_LAUNCH_TYPES = ['FARGATE', 'EC2'] as const;

export const ecsComputeSchema = z
  .strictObject({
    type: z.literal('ecs'),
    cluster: clusterRef,
    taskDefinition: taskDefinitionRef,
    containerName: z
      .string()
      .regex(new RegExp(`^${ecsName}$`), 'expected a container name')
      .optional(),
    subnets: z.array(subnetId).min(1),
    securityGroups: z.array(securityGroupId).default([]),
    assignPublicIp: z.boolean().default(false),
    /** Tried in this order when one has no capacity. */
    capacityProviders: z.array(capacityProvider).min(1).optional(),
    /** Without capacity providers: Fargate, or the cluster's EC2 container instances. Unset means FARGATE. */
    launchType: z.enum(ECS_LAUNCH_TYPES).optional(),
  })
  .superRefine((compute, ctx) => {
    // RunTask takes one or the other; a launch type next to providers would be silently unused.
    if (compute.launchType && compute.capacityProviders) {
      ctx.addIssue({
        code: 'custom',
        path: ['launchType'],
        message: 'launchType applies only without capacityProviders; give one or the other',
      });
    }
    const onEc2 = compute.launchType === 'EC2' || compute.capacityProviders?.some((name) => !FARGATE_CAPACITY_PROVIDERS.includes(name));
    if (compute.assignPublicIp && onEc2) {
      ctx.addIssue({
        code: 'custom',
        path: ['assignPublicIp'],
        message:
          'tasks on EC2 container instances get no public IP (RunTask refuses assignPublicIp there); give their subnets a NAT gateway',
      });
    }
    const seen = new Set<string>();
    compute.capacityProviders?.forEach((name, index) => {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['capacityProviders', index], message: `${name} is listed twice` });
      seen.add(name);
    });
  });

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'expected an EC2 instance type like m7i.large');

export const ec2ComputeSchema = z.strictObject({
  type: z.literal('ec2'),
  /** A launch template id (lt-…) or name. */
  launchTemplate: z.string().regex(/^(lt-[0-9a-f]+|[A-Za-z0-9()./_-]{3,128})$/, 'expected a launch template id or name'),
  version: z
    .string()
    .regex(/^(\$Latest|\$Default|\d+)$/, 'expected $Latest, $Default or a version number')
    .optional(),
  /** Tried in this order when a type has no capacity. */
  instanceTypes: z.array(instanceType).min(1),
  subnets: z.array(subnetId).min(1),
  /** Spot first, on-demand when spot has no capacity. */
  spot: z.boolean().default(false),
});

// Auto Scaling refuses ":" in group names; this narrower set is also safe in tags and Terraform JSON.
const autoScalingGroupName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'expected an Auto Scaling group name: 1-255 letters, digits, ".", "_" and "-"');

/** A group fleetbot sizes to its runners; the group itself names subnets, launch template and instance types. */
export const asgComputeSchema = z.strictObject({
  type: z.literal('asg'),
  autoScalingGroup: autoScalingGroupName,
});

export const computeSchema = z.discriminatedUnion('type', [ecsComputeSchema, ec2ComputeSchema, asgComputeSchema]);

export { awsRegion };

/**
 * What Terraform builds for a fleet requested by IssueOps. The compute section then names those
 * resources; fleets written by hand leave this out.
 */
export const provisionSchema = z.strictObject({
  region: awsRegion,
  /** Fargate: the runner's container image. EC2: an AMI id, or a name filter for the newest matching AMI. */
  image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@ ()[\]'*?]{0,255}$/, 'expected a container image, an AMI id or an AMI name filter'),
  /** Fargate task size, in CPU units (1024 = 1 vCPU) and MiB. */
  cpu: z.number().int().positive().optional(),
  memoryMiB: z.number().int().positive().optional(),
  /** The runners' security groups; when empty Terraform creates one in the subnets' VPC. */
  securityGroups: z.array(securityGroupId).default([]),
  /** The request issue, for the trail from a fleet back to who asked for it and why. */
  requestIssue: z.number().int().positive().optional(),
});

/** The CI systems a fleet can serve; each is a job source in `src/ci/`. */
export const CI_SYSTEMS = ['github', 'gitlab', 'circleci'] as const;
export type CiSystem = (typeof CI_SYSTEMS)[number];

// Secrets live in SSM Parameter Store; the fleets file only names them.
const parameterName = z.string().regex(/^\/[A-Za-z0-9_./-]{1,1010}$/, 'expected an SSM parameter name like /fleetbot/gitlab/api-token');

const httpsUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).transform((url) => url.replace(/\/+$/, ''));

// GitLab's project paths: a namespace (groups and subgroups) and the project, each segment starting with a
// letter, digit or "_" (GitLab's own rule), as GitLab's API accepts them in place of an id.
const gitlabProjectError = { error: 'expected a project id like 380 or a full path like group/project' };
const gitlabProject = z.union(
  [
    z.number().int().positive(gitlabProjectError),
    z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$/, gitlabProjectError),
  ],
  gitlabProjectError,
);

/** GitLab: the instance, and where its tokens are kept. Labels are the runner's GitLab tags. */
export const gitlabSettingsSchema = z.strictObject({
  url: httpsUrl.default('https://gitlab.com'),
  /** The fleet's runner authentication token (glrt-…), created in GitLab for a runner with the fleet's tags. */
  tokenParameter: parameterName,
  /** A token that may read the projects' jobs (read_api), to learn a pending job's tags. */
  apiTokenParameter: parameterName,
  /** The secret GitLab sends in X-Gitlab-Token with each webhook. */
  webhookSecretParameter: parameterName,
  /** Projects swept for pending jobs even before fleetbot has seen a job of theirs: ids, or full paths. */
  projects: z.array(gitlabProject).default([]),
});

/** CircleCI: the self-hosted runner resource class this fleet serves, and where its tokens are kept. */
export const circleciSettingsSchema = z.strictObject({
  resourceClass: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected a resource class like namespace/name'),
  /** The resource class token the runner agent authenticates with. */
  runnerTokenParameter: parameterName,
  /** A personal or project API token, to read the resource class's unclaimed task count. */
  apiTokenParameter: parameterName,
  /** The runner API, for CircleCI server installations. */
  url: httpsUrl.default('https://runner.circleci.com'),
});

const cronSchedule = z.string().refine(
  (pattern) => {
    try {
      new Cron(pattern, { paused: true });
      return pattern.trim().split(/\s+/).length === 5;
    } catch {
      return false;
    }
  },
  { error: 'expected a five-field cron expression (minute hour day month weekday), like "* 8-17 * * 1-5"' },
);

const timeZone = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'expected an IANA time zone like Europe/Berlin' },
);

/**
 * Idle runners kept ready, counted against `maxRunners`: a job that finds one starts at once. The
 * pool is kept during the minutes `schedule` matches in `timeZone` (always, without a schedule).
 */
export const warmPoolSchema = z.strictObject({
  count: z.number().int().min(1).max(1000),
  schedule: cronSchedule.optional(),
  timeZone: timeZone.default('UTC'),
  /** Where the warm runners register, before any job names a place: an organisation, or owner/repo. */
  owner: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\/[A-Za-z0-9._-]{1,100})?$/, 'expected an organisation, or owner/repo'),
});

/** Whether the pool wants its runners at `at`. */
export function isWarmPoolActive(pool: WarmPool, at: Date): boolean {
  return !pool.schedule || new Cron(pool.schedule, { timezone: pool.timeZone, paused: true }).match(at);
}

/**
 * What the fleet's runners cost, when the list prices fleetbot carries (src/cost/prices.ts) do not say it:
 * a price per runner-hour, or Fargate rates applied to the fleet's task size. Only for cost estimates.
 */
export const pricingSchema = z
  .strictObject({
    hourlyDollars: z.number().nonnegative().optional(),
    vcpuHourDollars: z.number().nonnegative().optional(),
    gbHourDollars: z.number().nonnegative().optional(),
  })
  .refine(
    (pricing) =>
      (pricing.hourlyDollars !== undefined) !== (pricing.vcpuHourDollars !== undefined && pricing.gbHourDollars !== undefined) &&
      (pricing.vcpuHourDollars === undefined) === (pricing.gbHourDollars === undefined),
    'expected either hourlyDollars, or both vcpuHourDollars and gbHourDollars',
  );

/** What every fleet has, whatever its CI system. */
const fleetBase = {
  name: fleetName,
  labels: z.array(runnerLabel).min(1),
  maxRunners: z.number().int().min(1).max(10_000),
  runnerGroupId: z.number().int().min(1).default(1),
  credentials: z.enum(['jit', 'registration-token']).default('jit'),
  /** A runner online this long without a job, whose own job another runner took, is removed. */
  idleTimeoutSeconds: z.number().int().min(60).max(86_400).default(300),
  compute: computeSchema,
  provision: provisionSchema.optional(),
  pricing: pricingSchema.optional(),
};

/** Each CI system's section is required for its fleets and meaningless for the others. */
function sectionOf<T extends z.ZodType<unknown, object>>(system: CiSystem, schema: T) {
  return z
    .unknown()
    .refine((section) => section !== undefined, `a fleet with ci: ${system} needs a ${system} section`)
    .pipe(schema);
}
const onlyFor = (system: CiSystem) => z.undefined({ error: `only fleets with ci: ${system} take a ${system} section` }).optional();
// GitLab and CircleCI runners are started for demand their systems report; only GitHub's wait in a pool.
const noWarmPool = z.undefined({ error: 'warm pools are for GitHub fleets' }).optional();

const githubFleetSchema = z.strictObject({
  ...fleetBase,
  ci: z.literal('github').default('github'),
  warmRunners: warmPoolSchema.optional(),
  gitlab: onlyFor('gitlab'),
  circleci: onlyFor('circleci'),
});

const gitlabFleetSchema = z.strictObject({
  ...fleetBase,
  ci: z.literal('gitlab'),
  warmRunners: noWarmPool,
  gitlab: sectionOf('gitlab', gitlabSettingsSchema),
  circleci: onlyFor('circleci'),
});

const circleciFleetSchema = z.strictObject({
  ...fleetBase,
  ci: z.literal('circleci'),
  warmRunners: noWarmPool,
  gitlab: onlyFor('gitlab'),
  circleci: sectionOf('circleci', circleciSettingsSchema),
});

/** A fleet, by its CI system: a GitLab fleet has its `gitlab` section, a CircleCI fleet its `circleci` section. */
export const fleetSpecSchema = z
  .discriminatedUnion('ci', [githubFleetSchema, gitlabFleetSchema, circleciFleetSchema], {
    error: (issue) => (issue.code === 'invalid_union' ? `expected one of ${CI_SYSTEMS.join(', ')}` : undefined),
  })
  .superRefine((fleet, ctx) => {
    if (fleet.warmRunners && fleet.warmRunners.count > fleet.maxRunners) {
      ctx.addIssue({
        code: 'custom',
        path: ['warmRunners', 'count'],
        message: `expected at most maxRunners (${fleet.maxRunners}) warm runners`,
      });
    }
  });

export type FleetSpec = z.infer<typeof fleetSpecSchema>;
export type GitHubFleetSpec = z.infer<typeof githubFleetSchema>;
export type GitLabFleetSpec = z.infer<typeof gitlabFleetSchema>;
export type CircleCiFleetSpec = z.infer<typeof circleciFleetSchema>;
export type EcsCompute = z.infer<typeof ecsComputeSchema>;
export type EcsLaunchType = (typeof ECS_LAUNCH_TYPES)[number];
export type Ec2Compute = z.infer<typeof ec2ComputeSchema>;
export type AsgCompute = z.infer<typeof asgComputeSchema>;
export type GitLabSettings = z.infer<typeof gitlabSettingsSchema>;
export type CircleCiSettings = z.infer<typeof circleciSettingsSchema>;
export type WarmPool = z.infer<typeof warmPoolSchema>;
export type FleetProvision = z.infer<typeof provisionSchema>;
export type FleetPricing = z.infer<typeof pricingSchema>;
export type FleetSpecInput = z.input<typeof fleetSpecSchema>;
