import type { z } from 'zod';
import type { Check, TextCheck } from './checks.js';
import type { CiSystem, FleetProvision, FleetSpec } from './spec.js';

/**
 * What each compute type tells IssueOps and `fleetbot synth` about itself, one module per type
 * (compute-ecs.ts, compute-ec2.ts, compute-asg.ts), collected in the tables of compute-registry.ts: a new
 * type is a new module and an entry the compiler asks for. Its backend is src/compute/<type>.ts. Its
 * Terraform is built by the construct and builder in cdktf/constructs/ (ecs-fargate-fleet.ts, ec2-fleet.ts),
 * which fleet-stack.ts keys by type: they live apart because CDKTF is an optional dependency that the job
 * path and IssueOps's form checks must not load.
 */

export type ComputeType = FleetSpec['compute']['type'];
export type ComputeOf<T extends ComputeType> = Extract<FleetSpec['compute'], { type: T }>;

/** A key and a value of the fleet summary table in the pull request. */
export type SummaryRow = [string, string];

export interface ComputeKind<C extends FleetSpec['compute']> {
  /** How people name it: the request form's Compute option, the summary, synth's report. */
  label: string;
  /** The summary's rows for what runs the runners, and how big they are. */
  summaryRows(compute: C, provision: FleetProvision | undefined): SummaryRow[];
  /** The summary's last rows: where the runners run, when the compute section says. */
  placementRows(compute: C): SummaryRow[];
  /** Why `fleetbot synth` cannot build the fleet with IssueOps's constructs, or undefined when it can. */
  unbuildableReason(spec: FleetSpec, compute: C): string | undefined;
}

/** The sizing answers of the request form: vCPU, Memory (GiB) and Instance types. */
export type SizingField = 'vcpu' | 'memory' | 'instance-types';
/** Reads one answer with its check; undefined when it is empty or has a problem (which the reader keeps). */
export type ReadAnswer = <V>(field: SizingField, check: TextCheck<V>) => V | undefined;

/** What the request form's answers give every compute type: names, places and the request's trail. */
export interface RequestedFleet {
  name: string;
  /** `fleetbot-<name>`: the cluster, task definition or launch template Terraform creates. */
  resourceName: string;
  image: string;
  region: string;
  subnets: string[];
  securityGroups: string[];
  spot: boolean;
  assignPublicIp: boolean;
  requestIssue: number;
}

/** The flags of `fleetbot synth` that stand in for a provision block, as parsed strings. */
export interface ProvisionFlagValues {
  region: string;
  image: string | undefined;
  cpu: string | undefined;
  memory: string | undefined;
  securityGroups: string[];
}

/** Where each CI system's runner image is built from: synth's hints name it. */
export const RUNNER_IMAGE_SOURCE: Record<CiSystem, string> = {
  github: 'images/github-runner',
  gitlab: 'images/gitlab-runner',
  circleci: 'images/circleci-runner',
};

/** A compute type IssueOps requests and Terraform builds. */
export interface ProvisionedComputeKind<
  C extends FleetSpec['compute'],
  Sizing,
  Outputs extends Record<string, unknown>,
> extends ComputeKind<C> {
  /** The runner image, as the request form's Runner image asks for it: `noun` and `rule` word the messages. */
  image: { noun: string; rule: string; check(text: string): Check<string> };
  /** Reads the sizing answers it uses; the others must be empty. */
  readSizing(read: ReadAnswer): Sizing;
  /** The fleet's compute and provision sections (not yet parsed), from checked answers. */
  request(fleet: RequestedFleet, sizing: Sizing): { compute: unknown; provision: unknown };
  /** The stack's Terraform outputs, in the order it writes them, and the live compute section made with them. */
  outputs: {
    names: readonly (keyof Outputs & string)[];
    schema: z.ZodType<Outputs>;
    live(compute: C, values: Outputs): unknown;
  };
  synth: {
    /** Problems of a fleet's own provision block, beyond its schema. */
    provisionProblems(compute: C, provision: FleetProvision): string[];
    /** The flags as this type reads them (its defaults filled in), and their schema. */
    flags(values: ProvisionFlagValues, spec: FleetSpec, compute: C): { raw: ProvisionFlagValues; schema: z.ZodType<FleetProvision> };
    /** Lines of synth's report on where the inputs came from, after region and image. */
    inputLines(provision: FleetProvision, sizeSource: string): string[];
    /** The last lines of synth's report: what is left to do. */
    nextSteps(spec: FleetSpec, provision: FleetProvision, where: { fleetsFile: string; chdir: string }): string[];
  };
}
