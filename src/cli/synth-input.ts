import { computeKind, provisionedKind, type AnyProvisionedKind } from '../fleets/compute-registry.js';
import type { FleetProvision, FleetSpec } from '../fleets/spec.js';
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

/**
 * Why synth cannot build this fleet with the constructs IssueOps uses, or undefined when it can: its
 * compute type's module says (src/fleets/compute-*.ts).
 */
export function unsupportedFleetReason(spec: FleetSpec): string | undefined {
  return computeKind(spec.compute).unbuildableReason(spec, spec.compute);
}

/** The module of a fleet synth builds; unsupportedFleetReason has turned the others away. */
function kindOf(spec: FleetSpec): AnyProvisionedKind {
  const kind = provisionedKind(spec.compute);
  if (!kind) throw new Error(`fleet ${spec.name}: ${unsupportedFleetReason(spec) ?? `synth builds no ${spec.compute.type} fleets`}`);
  return kind;
}

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
  problems.push(...kindOf(spec).synth.provisionProblems(spec.compute, provision));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, spec: { ...spec, provision }, inputs: [`region, image, size and security groups: the fleet's provision block`] };
}

function fromFlags(spec: FleetSpec, flags: ProvisionFlags, env: NodeJS.ProcessEnv): SynthInput {
  const region = flags.region ?? env.AWS_REGION ?? DEFAULT_REGION;
  const regionSource = flags.region !== undefined ? '--region' : env.AWS_REGION !== undefined ? 'AWS_REGION' : 'default';
  const kind = kindOf(spec);
  const given = { region, image: flags.image, cpu: flags.cpu, memory: flags.memory, securityGroups: flags.securityGroups ?? [] };
  const { raw, schema } = kind.synth.flags(given, spec, spec.compute);
  const parsed = schema.safeParse(raw);
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
  inputs.push(...kind.synth.inputLines(provision, sizeSource(flags)));
  return { ok: true, spec: { ...spec, provision }, inputs };
}
