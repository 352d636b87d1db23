import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { fleetSpecSchema, type FleetSpec } from './spec.js';
import { formatZodIssues } from '../zod-issues.js';

/**
 * The fleets file (FLEETBOT_CONFIG): hand-written fleets, and the IssueOps settings when fleets are requested
 * by issue. The `issueops` section's schema belongs to IssueOps, above this layer: whoever wires IssueOps (assemble.ts,
 * the CLI) passes it in, so that its problems are listed with the fleets' in one error. Without it the section
 * is kept as written.
 */
export interface FleetsFile<IssueOps = unknown> {
  fleets: FleetSpec[];
  issueops?: IssueOps;
  dashboard?: DashboardSection;
}

/** Who may sign in to the dashboard with GitHub: members of an organisation (`acme`) or of a team (`acme/platform`). */
export interface DashboardSection {
  allow: string[];
}

const dashboardSectionSchema = z.strictObject({
  allow: z.array(
    z
      .string()
      .regex(
        /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\/[A-Za-z0-9_.-]+)?$/,
        'expected an organisation (acme) or org/team-slug (acme/platform)',
      ),
  ),
});

function fleetsFileSchema(issueOps: z.ZodType) {
  const sections = {
    fleets: z.array(fleetSpecSchema).default([]),
    issueops: issueOps.optional(),
    dashboard: dashboardSectionSchema.optional(),
  };
  return z.strictObject(sections).superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.fleets.forEach((fleet, index) => {
      if (seen.has(fleet.name)) {
        ctx.addIssue({ code: 'custom', path: ['fleets', index, 'name'], message: `duplicate fleet name "${fleet.name}"` });
      }
      seen.add(fleet.name);
    });
  });
}

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

export function parseFleetsFile<IssueOps = unknown>(text: string, file: string, issueOps?: z.ZodType<IssueOps>): FleetsFile<IssueOps> {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new FleetsFileError(file, [`YAML syntax: ${(error as Error).message}`]);
  }
  const result = fleetsFileSchema(issueOps ?? z.unknown()).safeParse(raw);
  if (!result.success) {
    throw new FleetsFileError(file, formatZodIssues(result.error, { describePath: (path) => describePath(path, raw) }));
  }
  return result.data as FleetsFile<IssueOps>;
}

/** Reads the fleets file; a missing file is an error only when its path was chosen explicitly. */
export async function loadFleetsFile<IssueOps = unknown>(
  file: string,
  required: boolean,
  issueOps?: z.ZodType<IssueOps>,
): Promise<FleetsFile<IssueOps>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return { fleets: [] };
    throw new FleetsFileError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseFleetsFile(text, file, issueOps);
}
