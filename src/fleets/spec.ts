import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * FleetSpec: the single source of truth for a fleet, shared by the fleets file and (later) IssueOps.
 * Every key is documented in the README's fleets file reference; keep the two in step.
 */

const fleetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected 1-40 characters of a-z, 0-9 and "-", starting with a letter or digit');

// GitHub labels are case-insensitive; a conservative charset keeps them safe in tags and runner names.
const runnerLabel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1-64 characters of letters, digits, ".", "_" and "-"');

const subnetId = z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet id like subnet-0123abcd');
const securityGroupId = z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group id like sg-0123abcd');

export const ecsComputeSchema = z.strictObject({
  type: z.literal('ecs'),
  cluster: z.string().min(1),
  taskDefinition: z.string().min(1),
  containerName: z.string().min(1).optional(),
  subnets: z.array(subnetId).min(1),
  securityGroups: z.array(securityGroupId).default([]),
  assignPublicIp: z.boolean().default(false),
  capacityProviders: z.array(z.string().min(1)).min(1).optional(),
});

export const computeSchema = z.discriminatedUnion('type', [ecsComputeSchema]);

export const fleetSpecSchema = z.strictObject({
  name: fleetName,
  labels: z.array(runnerLabel).min(1),
  maxRunners: z.number().int().min(1).max(10_000),
  runnerGroupId: z.number().int().min(1).default(1),
  credentials: z.enum(['jit', 'registration-token']).default('jit'),
  compute: computeSchema,
});

export type FleetSpec = z.infer<typeof fleetSpecSchema>;
export type EcsCompute = z.infer<typeof ecsComputeSchema>;
export type FleetSpecInput = z.input<typeof fleetSpecSchema>;

export const fleetsFileSchema = z
  .strictObject({ fleets: z.array(fleetSpecSchema).default([]) })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.fleets.forEach((fleet, index) => {
      if (seen.has(fleet.name)) {
        ctx.addIssue({ code: 'custom', path: ['fleets', index, 'name'], message: `duplicate fleet name "${fleet.name}"` });
      }
      seen.add(fleet.name);
    });
  });

/** A fleets file that cannot be used; the message names the file, the fleet and the key. */
export class FleetsFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file} is not a valid fleets file:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'FleetsFileError';
  }
}

/** Renders a zod issue path as `fleets[0] (linux-small).compute.subnets[1]`, naming the fleet when known. */
function describePath(path: PropertyKey[], raw: unknown): string {
  let text = '';
  let node: unknown = raw;
  for (const [depth, key] of path.entries()) {
    if (typeof key === 'number') {
      text += `[${key}]`;
      const item: unknown = Array.isArray(node) ? node[key] : undefined;
      const name = depth === 1 && path[0] === 'fleets' && isRecord(item) ? item.name : undefined;
      if (typeof name === 'string') text += ` (${name})`;
      node = item;
    } else {
      text += text ? `.${String(key)}` : String(key);
      node = isRecord(node) ? node[String(key)] : undefined;
    }
  }
  return text || '(top level)';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseFleetsFile(text: string, file: string): FleetSpec[] {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new FleetsFileError(file, [`YAML syntax: ${(error as Error).message}`]);
  }
  const result = fleetsFileSchema.safeParse(raw);
  if (!result.success) {
    throw new FleetsFileError(
      file,
      result.error.issues.map((issue) => `${describePath(issue.path, raw)}: ${issue.message}`),
    );
  }
  return result.data.fleets;
}

/** Reads the fleets file; a missing file is an error only when its path was chosen explicitly. */
export async function loadFleetsFile(file: string, required: boolean): Promise<FleetSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return [];
    throw new FleetsFileError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseFleetsFile(text, file);
}
