import type { Construct } from 'constructs';
import type { FleetProvision, FleetSpec } from '../../src/fleets/spec.js';

/** What the fleet stack gives a compute type's construct. */
export interface FleetBuild<C extends FleetSpec['compute']> {
  spec: FleetSpec;
  /** The spec's compute section, of the builder's own type. */
  compute: C;
  provision: FleetProvision;
  tags: Record<string, string>;
  /** The EC2 runners' boot script (images/ec2/runner-user-data.sh): read only by types that boot instances. */
  userData(): string;
}

/**
 * Builds a compute type's resources in `scope` and gives the values of the outputs its module
 * (src/fleets/compute-<type>.ts) names, which the app reads back after apply.
 */
export type FleetBuilder<C extends FleetSpec['compute'], Output extends string> = (
  scope: Construct,
  build: FleetBuild<C>,
) => Record<Output, string | readonly string[]>;
