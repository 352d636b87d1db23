import { fleetSpecSchema, type FleetSpec, type FleetSpecInput } from '../../src/fleets/spec.js';

/** A valid ECS fleet for tests; `overrides` replace top-level keys, `compute` merges. */
export function ecsFleet(overrides: Omit<Partial<FleetSpecInput>, 'compute'> & { compute?: Record<string, unknown> } = {}): FleetSpec {
  const { compute, ...rest } = overrides;
  return fleetSpecSchema.parse({
    name: 'linux-small',
    labels: ['self-hosted', 'linux', 'small'],
    maxRunners: 20,
    ...rest,
    compute: {
      type: 'ecs',
      cluster: 'runners',
      taskDefinition: 'gh-runner',
      subnets: ['subnet-123'],
      securityGroups: ['sg-123'],
      ...compute,
    },
  });
}

/** A valid CircleCI fleet on ECS for tests, serving `resourceClass`. */
export function circleciFleet(
  name: string,
  resourceClass: string,
  overrides: Omit<Partial<FleetSpecInput>, 'compute' | 'circleci'> & { compute?: Record<string, unknown>; url?: string } = {},
): FleetSpec {
  const { url, ...rest } = overrides;
  return ecsFleet({
    name,
    labels: ['self-hosted', 'linux'],
    ci: 'circleci',
    circleci: {
      resourceClass,
      runnerTokenParameter: `/fleetbot/circleci/${name}/runner-token`,
      apiTokenParameter: `/fleetbot/circleci/${name}/api-token`,
      ...(url ? { url } : {}),
    },
    ...rest,
  });
}
