import { DEFAULT_FARGATE_CPU, DEFAULT_FARGATE_MEMORY_MIB } from '../fleets/compute-ecs.js';
import type { ComputeType } from '../fleets/compute-kinds.js';
import type { AsgCompute, Ec2Compute, EcsCompute, FleetSpec } from '../fleets/spec.js';
import type { RunnerRecord } from '../store/types.js';
import { DEFAULT_PRICE_REGION, PRICES, type FargateRates } from './prices.js';

/**
 * What a runner cost: the hours from its launch to its release (or `until`) at its hourly price. The
 * price is, in this order: the fleet's `pricing` (fleets file), the price seen at launch (an EC2 spot
 * price), the list price of the fleet's capacity in its region (prices.ts). AWS bills Linux instances
 * and Fargate tasks per second with a one-minute minimum, and so does the estimate.
 */

const HOUR_MS = 3_600_000;
const MINIMUM_BILLED_MS = 60_000;

/** When the runner's compute started: null for a runner never launched (nothing to pay for). */
export function launchedAtOf(runner: RunnerRecord): number | null {
  return runner.launchedAt ?? (runner.computeId ? runner.createdAt : null);
}

/** Whether the runner runs on spot capacity, as its launch said or, for older records, its capacity's name says. */
export function isSpot(runner: RunnerRecord): boolean {
  return runner.spot ?? /\bspot\b|^FARGATE_SPOT\b/i.test(runner.computeDetail ?? '');
}

export function estimateRunnerCost(runner: RunnerRecord, fleet: FleetSpec, until: number, region?: string): number {
  const launchedAt = launchedAtOf(runner);
  if (launchedAt === null) return 0;
  const end = Math.min(until, runner.releasedAt ?? until);
  if (end <= launchedAt) return 0;
  const hourly = hourlyPriceOf(runner, fleet, region);
  return hourly === undefined ? 0 : (Math.max(end - launchedAt, MINIMUM_BILLED_MS) / HOUR_MS) * hourly;
}

/** The runner's price per hour; undefined when neither the fleets file, the launch nor the table says. */
export function hourlyPriceOf(runner: RunnerRecord, fleet: FleetSpec, region = DEFAULT_PRICE_REGION): number | undefined {
  const { pricing } = fleet;
  if (pricing?.hourlyDollars !== undefined) return pricing.hourlyDollars;
  if (pricing?.vcpuHourDollars !== undefined && pricing.gbHourDollars !== undefined) {
    return fargateHourly(fleet, { vcpuHourDollars: pricing.vcpuHourDollars, gbHourDollars: pricing.gbHourDollars });
  }
  if (runner.hourlyPriceDollars !== undefined && runner.hourlyPriceDollars !== null) return runner.hourlyPriceDollars;
  const listPrice = LIST_PRICES[fleet.compute.type] as ListPrice<FleetSpec['compute']>;
  return listPrice(fleet.compute, fleet, runner, fleet.provision?.region ?? region);
}

type ListPrice<C> = (compute: C, fleet: FleetSpec, runner: RunnerRecord, region: string) => number | undefined;

/** The fleet's task size: what IssueOps provisioned, else the size `fleetbot synth` gives a task definition. */
function fargateHourly(fleet: FleetSpec, rates: FargateRates): number {
  const vcpu = (fleet.provision?.cpu ?? DEFAULT_FARGATE_CPU) / 1024;
  const gib = (fleet.provision?.memoryMiB ?? DEFAULT_FARGATE_MEMORY_MIB) / 1024;
  return vcpu * rates.vcpuHourDollars + gib * rates.gbHourDollars;
}

/** The instance type a runner got: the first word of its capacity (`m7i.large spot`), else the fleet's first choice. */
function instanceTypeOf(runner: RunnerRecord, compute: Ec2Compute): string {
  const launched = runner.computeDetail?.split(' ')[0];
  return launched && compute.instanceTypes.includes(launched) ? launched : compute.instanceTypes[0];
}

const LIST_PRICES: { [K in ComputeType]: ListPrice<Extract<FleetSpec['compute'], { type: K }>> } = {
  // Tasks on EC2 container instances (launch type EC2, an Auto Scaling group provider) cost their instances: no list price.
  ecs: (compute: EcsCompute, fleet, runner, region) => {
    const onFargate = compute.launchType !== 'EC2' && (compute.capacityProviders ?? ['FARGATE']).some((name) => name.startsWith('FARGATE'));
    const prices = PRICES[region];
    if (!onFargate || !prices) return undefined;
    return fargateHourly(fleet, (isSpot(runner) && prices.fargateSpot) || prices.fargate);
  },
  // A spot instance whose price was not seen at launch is priced on demand: an upper bound.
  ec2: (compute: Ec2Compute, _fleet, runner, region) => PRICES[region]?.ec2OnDemandHourly[instanceTypeOf(runner, compute)],
  // The group chooses the instance type; fleetbot does not see it at launch. Such fleets set `pricing`.
  asg: (_compute: AsgCompute) => undefined,
};
