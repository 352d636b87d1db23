import { z } from 'zod';

/**
 * FleetSpec: the single source of truth for a fleet, shared by the fleets file and IssueOps.
 * Every key is documented in the README's fleets file reference; keep the two in step.
 */

const fleetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected 1-40 characters of a-z, 0-9 and "-", starting with a letter or digit');

// GitHub labels are case-insensitive; a conservative charset keeps them safe in tags and runner names.
const runnerLabel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1-64 characters of letters, digits, ".", "_" and "-"');

export const subnetId = z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet id like subnet-0123abcd');
export const securityGroupId = z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group id like sg-0123abcd');

// Names and ARNs by pattern: these values end up in Terraform JSON, where "${" would start an expression.
const ecsName = /[A-Za-z0-9_-]{1,255}/.source;
const ecsArn = (resource: string) => `arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:${resource}/${ecsName}`;
const clusterRef = z.string().regex(new RegExp(`^(${ecsName}|${ecsArn('cluster')})$`), 'expected a cluster name or ARN');
const taskDefinitionRef = z
  .string()
  .regex(new RegExp(`^(${ecsName}(:\\d+)?|${ecsArn('task-definition')}(:\\d+)?)$`), 'expected a task definition family, family:revision or ARN');

export const ecsComputeSchema = z.strictObject({
  type: z.literal('ecs'),
  cluster: clusterRef,
  taskDefinition: taskDefinitionRef,
  containerName: z.string().regex(new RegExp(`^${ecsName}$`), 'expected a container name').optional(),
  subnets: z.array(subnetId).min(1),
  securityGroups: z.array(securityGroupId).default([]),
  assignPublicIp: z.boolean().default(false),
  capacityProviders: z.array(z.string().min(1)).min(1).optional(),
});

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'expected an EC2 instance type like m7i.large');

export const ec2ComputeSchema = z.strictObject({
  type: z.literal('ec2'),
  /** A launch template id (lt-…) or name. */
  launchTemplate: z.string().regex(/^(lt-[0-9a-f]+|[A-Za-z0-9().\/_-]{3,128})$/, 'expected a launch template id or name'),
  version: z.string().regex(/^(\$Latest|\$Default|\d+)$/, 'expected $Latest, $Default or a version number').optional(),
  /** Tried in this order when a type has no capacity. */
  instanceTypes: z.array(instanceType).min(1),
  subnets: z.array(subnetId).min(1),
  /** Spot first, on-demand when spot has no capacity. */
  spot: z.boolean().default(false),
});

export const computeSchema = z.discriminatedUnion('type', [ecsComputeSchema, ec2ComputeSchema]);

export const awsRegion = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'expected an AWS region like us-east-1');

/**
 * What Terraform builds for a fleet requested by IssueOps. The compute section then names those
 * resources; fleets written by hand leave this out.
 */
export const provisionSchema = z.strictObject({
  region: awsRegion,
  /** Fargate: the runner's container image. EC2: an AMI id, or a name filter for the newest matching AMI. */
  image: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@ ()[\]'*?]{0,255}$/, 'expected a container image, an AMI id or an AMI name filter'),
  /** Fargate task size, in CPU units (1024 = 1 vCPU) and MiB. */
  cpu: z.number().int().positive().optional(),
  memoryMiB: z.number().int().positive().optional(),
  /** The runners' security groups; when empty Terraform creates one in the subnets' VPC. */
  securityGroups: z.array(securityGroupId).default([]),
  /** The request issue, for the trail from a fleet back to who asked for it and why. */
  requestIssue: z.number().int().positive().optional(),
});

export const fleetSpecSchema = z.strictObject({
  name: fleetName,
  labels: z.array(runnerLabel).min(1),
  maxRunners: z.number().int().min(1).max(10_000),
  runnerGroupId: z.number().int().min(1).default(1),
  credentials: z.enum(['jit', 'registration-token']).default('jit'),
  compute: computeSchema,
  provision: provisionSchema.optional(),
});

export type FleetSpec = z.infer<typeof fleetSpecSchema>;
export type EcsCompute = z.infer<typeof ecsComputeSchema>;
export type Ec2Compute = z.infer<typeof ec2ComputeSchema>;
export type FleetProvision = z.infer<typeof provisionSchema>;
export type FleetSpecInput = z.input<typeof fleetSpecSchema>;
