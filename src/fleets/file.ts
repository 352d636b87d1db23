import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { issueOpsSettingsSchema } from '../issueops/settings.js';
import { fleetSpecSchema } from './spec.js';

/** The fleets file (FLEETBOT_CONFIG): hand-written fleets, and the IssueOps settings when fleets are requested by issue. */

export const fleetsFileSchema = z
  .strictObject({ fleets: z.array(fleetSpecSchema).default([]), issueops: issueOpsSettingsSchema.optional() })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.fleets.forEach((fleet, index) => {
      if (seen.has(fleet.name)) {
        ctx.addIssue({ code: 'custom', path: ['fleets', index, 'name'], message: `duplicate fleet name "${fleet.name}"` });
      }
      seen.add(fleet.name);
    });
  });

export type FleetsFile = z.infer<typeof fleetsFileSchema>;

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

export function parseFleetsFile(text: string, file: string): FleetsFile {
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
  return result.data;
}

/** Reads the fleets file; a missing file is an error only when its path was chosen explicitly. */
export async function loadFleetsFile(file: string, required: boolean): Promise<FleetsFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return { fleets: [] };
    throw new FleetsFileError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseFleetsFile(text, file);
}
