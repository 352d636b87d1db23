import { z } from 'zod';
import { fleetSpecSchema, securityGroupId, subnetId, type FleetSpec } from '../src/fleets/spec.js';
import { formatZodIssues } from '../src/zod-issues.js';

/** The Terraform outputs of a fleet stack, by name. fleet-stack.ts writes them; liveFleetSpec reads them. */
export const FLEET_OUTPUTS = {
  ecs: ['cluster', 'task_definition', 'container_name', 'subnets', 'security_groups'],
  ec2: ['launch_template', 'launch_template_id', 'subnets', 'security_groups'],
} as const;

export type FleetOutputName = (typeof FLEET_OUTPUTS)[keyof typeof FLEET_OUTPUTS][number];

const ecsOutputsSchema = z.object({
  cluster: z.string().min(1),
  task_definition: z.string().min(1),
  container_name: z.string().min(1),
  subnets: z.array(subnetId).min(1),
  security_groups: z.array(securityGroupId).min(1),
});

const ec2OutputsSchema = z.object({
  launch_template: z.string().min(1),
  launch_template_id: z.string().regex(/^lt-[0-9a-f]+$/),
  subnets: z.array(subnetId).min(1),
  security_groups: z.array(securityGroupId).min(1),
});

function outputValues(
  spec: FleetSpec,
  outputs: Record<string, { value: unknown }>,
  names: readonly FleetOutputName[],
): Record<string, unknown> {
  const missing = names.filter((name) => !Object.hasOwn(outputs, name));
  if (missing.length > 0) {
    throw new Error(
      `fleet ${spec.name}: terraform output lacks ${missing.map((name) => `"${name}"`).join(', ')}; ` +
        "was the fleet applied with the current fleetbot, and is the state the fleet's own?",
    );
  }
  return Object.fromEntries(names.map((name) => [name, outputs[name].value]));
}

function parseOutputs<T>(spec: FleetSpec, schema: z.ZodType<T>, values: Record<string, unknown>): T {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  throw new Error(`fleet ${spec.name}: unexpected terraform output: ${formatZodIssues(result.error).join('; ')}`);
}

/**
 * The live FleetSpec after apply: the spec with what only Terraform knows filled in (e.g. the security
 * group it created). `outputs` is `terraform output -json` parsed. Throws a clear error when an expected
 * output is missing.
 */
export function liveFleetSpec(spec: FleetSpec, outputs: Record<string, { value: unknown }>): FleetSpec {
  const compute = spec.compute;
  if (compute.type === 'ecs') {
    const live = parseOutputs(spec, ecsOutputsSchema, outputValues(spec, outputs, FLEET_OUTPUTS.ecs));
    return fleetSpecSchema.parse({
      ...spec,
      compute: {
        ...compute,
        cluster: live.cluster,
        taskDefinition: live.task_definition,
        containerName: live.container_name,
        subnets: live.subnets,
        securityGroups: live.security_groups,
      },
    });
  }
  const live = parseOutputs(spec, ec2OutputsSchema, outputValues(spec, outputs, FLEET_OUTPUTS.ec2));
  // The template's security groups travel inside the template; the compute section names it and the subnets.
  return fleetSpecSchema.parse({ ...spec, compute: { ...compute, launchTemplate: live.launch_template, subnets: live.subnets } });
}
