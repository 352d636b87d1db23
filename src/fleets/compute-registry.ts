import { asgKind } from './compute-asg.js';
import { ec2Kind } from './compute-ec2.js';
import { ecsKind } from './compute-ecs.js';
import type { ComputeKind, ComputeOf, ComputeType, ProvisionedComputeKind, SummaryRow } from './compute-kinds.js';
import type { FleetSpec } from './spec.js';

/**
 * Every compute type's module, by type: a type without one is a compile error. The types IssueOps and
 * `fleetbot synth` build are those of PROVISIONED_COMPUTE; they refuse the others' fleets, each for the
 * reason its module gives.
 */
export const COMPUTE_KINDS: { [T in ComputeType]: ComputeKind<ComputeOf<T>> } = { ecs: ecsKind, ec2: ec2Kind, asg: asgKind };

const provisioned = { ecs: ecsKind, ec2: ec2Kind };

export type ProvisionedComputeType = keyof typeof provisioned;

/** A provisioned type's module as code for every type sees it: each function is only ever given its own type's compute section. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each module's outputs have their own shape; its schema checks them.
export type AnyProvisionedKind = ProvisionedComputeKind<FleetSpec['compute'], unknown, any>;

export const PROVISIONED_COMPUTE: Record<ProvisionedComputeType, AnyProvisionedKind> = provisioned;

/** The module of the compute section's type. */
export function computeKind(compute: FleetSpec['compute']): ComputeKind<FleetSpec['compute']> {
  return COMPUTE_KINDS[compute.type];
}

/** The module of the compute section's type when IssueOps and synth build that type; undefined otherwise. */
export function provisionedKind(compute: FleetSpec['compute']): AnyProvisionedKind | undefined {
  return Object.hasOwn(PROVISIONED_COMPUTE, compute.type) ? PROVISIONED_COMPUTE[compute.type as ProvisionedComputeType] : undefined;
}

/** The fleet summary of the pull request: the fleet, its compute, what Terraform builds, and where it runs. */
export function summaryRows(spec: FleetSpec): SummaryRow[] {
  const kind = computeKind(spec.compute);
  const rows: SummaryRow[] = [
    ['Labels', spec.labels.map((label) => `\`${label}\``).join(', ')],
    ['Maximum runners', String(spec.maxRunners)],
    ...kind.summaryRows(spec.compute, spec.provision),
  ];
  if (spec.provision) {
    rows.push(['Runner image', `\`${spec.provision.image}\``]);
    rows.push(['Region', spec.provision.region]);
    rows.push(['Security groups', spec.provision.securityGroups.join(', ') || 'a new one, egress only']);
  }
  return [...rows, ...kind.placementRows(spec.compute)];
}
