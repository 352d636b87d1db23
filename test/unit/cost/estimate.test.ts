import { estimateRunnerCost, hourlyPriceOf } from '../../../src/cost/estimate.js';
import type { RunnerRecord } from '../../../src/store/types.js';
import { PRICES } from '../../../src/cost/prices.js';
import { fleetSpecSchema, type FleetSpec } from '../../../src/fleets/spec.js';
import { ec2Fleet } from '../../helpers/ec2-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';

const HOUR = 3_600_000;
const usEast = PRICES['us-east-1'];

function runner(fields: Partial<RunnerRecord> = {}): RunnerRecord {
  return {
    name: 'r',
    fleet: 'f',
    ci: 'github',
    jobId: '1',
    status: 'released',
    computeId: 'arn:task/1',
    computeDetail: 'FARGATE',
    credentialIssued: true,
    ciRunnerId: null,
    releasedReason: null,
    warm: false,
    createdAt: 0,
    updatedAt: 0,
    launchedAt: 0,
    releasedAt: HOUR,
    hourlyPriceDollars: null,
    spot: null,
    ...fields,
  };
}

const fargate = (overrides: Parameters<typeof ecsFleet>[0] = {}) =>
  ecsFleet({ provision: { region: 'us-east-1', image: 'ghcr.io/acme/runner:1', cpu: 2048, memoryMiB: 8192 }, ...overrides });

describe('what a runner cost', () => {
  it("prices a Fargate task's vCPU and GB-hours at its region's list price", () => {
    const expected = 2 * usEast.fargate.vcpuHourDollars + 8 * usEast.fargate.gbHourDollars;
    expect(estimateRunnerCost(runner(), fargate(), 2 * HOUR)).toBeCloseTo(expected, 12);
    const inIreland = fargate({ provision: { region: 'eu-west-1', image: 'ghcr.io/acme/runner:1', cpu: 1024, memoryMiB: 2048 } });
    const ireland = PRICES['eu-west-1'].fargate;
    expect(estimateRunnerCost(runner(), inIreland, HOUR)).toBeCloseTo(ireland.vcpuHourDollars + 2 * ireland.gbHourDollars, 12);
  });

  it('prices a Fargate Spot task at the Fargate Spot rates, from its launch or, for older records, its capacity', () => {
    const spot = 2 * usEast.fargateSpot!.vcpuHourDollars + 8 * usEast.fargateSpot!.gbHourDollars;
    expect(estimateRunnerCost(runner({ spot: true }), fargate(), HOUR)).toBeCloseTo(spot, 12);
    expect(estimateRunnerCost(runner({ spot: undefined, computeDetail: 'FARGATE_SPOT' }), fargate(), HOUR)).toBeCloseTo(spot, 12);
  });

  it('gives a hand-written Fargate fleet the size fleetbot synth gives a task definition (1 vCPU, 2 GiB), in the region given', () => {
    const ireland = PRICES['eu-west-1'].fargate;
    expect(estimateRunnerCost(runner(), ecsFleet(), HOUR, 'eu-west-1')).toBeCloseTo(
      ireland.vcpuHourDollars + 2 * ireland.gbHourDollars,
      12,
    );
  });

  it("prices an EC2 instance at its type's on-demand price, and a spot instance at the price seen at its launch", () => {
    const fleet = ec2Fleet({ compute: { instanceTypes: ['m7i.large', 'm6i.large'], spot: true } });
    const onDemand = runner({ computeDetail: 'm6i.large on-demand', spot: false });
    expect(estimateRunnerCost(onDemand, fleet, 3 * HOUR, 'us-east-1')).toBeCloseTo(usEast.ec2OnDemandHourly['m6i.large'], 12);
    const spot = runner({ computeDetail: 'm7i.large spot', spot: true, hourlyPriceDollars: 0.0312, releasedAt: 2 * HOUR });
    expect(estimateRunnerCost(spot, fleet, 3 * HOUR)).toBeCloseTo(0.0624, 12);
    // A spot price not seen at launch: the on-demand price, an upper bound.
    expect(hourlyPriceOf(runner({ computeDetail: 'm7i.large spot', spot: true }), fleet)).toBe(usEast.ec2OnDemandHourly['m7i.large']);
  });

  it("takes the fleets file's pricing over every other price", () => {
    const hourly = ec2Fleet({ pricing: { hourlyDollars: 0.5 } });
    expect(estimateRunnerCost(runner({ hourlyPriceDollars: 0.03 }), hourly, 4 * HOUR)).toBeCloseTo(0.5, 12);
    const rates = fargate({ pricing: { vcpuHourDollars: 0.1, gbHourDollars: 0.01 } });
    expect(estimateRunnerCost(runner(), rates, HOUR)).toBeCloseTo(2 * 0.1 + 8 * 0.01, 12);
  });

  it('bills a minute at least, stops at the release or `until`, and costs nothing unlaunched or unpriced', () => {
    const fleet = ec2Fleet({ pricing: { hourlyDollars: 6 } });
    expect(estimateRunnerCost(runner({ releasedAt: 5_000 }), fleet, HOUR)).toBeCloseTo(0.1, 12);
    expect(estimateRunnerCost(runner({ releasedAt: null }), fleet, HOUR / 2)).toBeCloseTo(3, 12);
    expect(estimateRunnerCost(runner({ launchedAt: null, computeId: null }), fleet, HOUR)).toBe(0);
    // Before the store kept launch times: from the claim, for a runner that has compute.
    expect(estimateRunnerCost(runner({ launchedAt: undefined, releasedAt: undefined, createdAt: 0 }), fleet, HOUR)).toBeCloseTo(6, 12);
    const asg = fleetSpecSchema.parse({ name: 'g', labels: ['x'], maxRunners: 1, compute: { type: 'asg', autoScalingGroup: 'runners' } });
    expect(estimateRunnerCost(runner(), asg, HOUR)).toBe(0);
    const ecsOnEc2: FleetSpec = ecsFleet({ compute: { launchType: 'EC2' } });
    expect(hourlyPriceOf(runner(), ecsOnEc2)).toBeUndefined();
    expect(hourlyPriceOf(runner(), ec2Fleet({ compute: { instanceTypes: ['x9z.huge'] } }))).toBeUndefined();
  });
});

describe("the fleets file's pricing", () => {
  const parse = (pricing: unknown) => fleetSpecSchema.safeParse({ ...ecsFleet(), pricing });

  it.each([{ hourlyDollars: 0.2 }, { vcpuHourDollars: 0.04, gbHourDollars: 0.004 }])('takes %j', (pricing) => {
    expect(parse(pricing).success).toBe(true);
  });

  it.each([
    {},
    { vcpuHourDollars: 0.04 },
    { hourlyDollars: 0.2, vcpuHourDollars: 0.04, gbHourDollars: 0.004 },
    { hourlyDollars: -1 },
    { perHour: 1 },
  ])('refuses %j', (pricing) => {
    expect(parse(pricing).success).toBe(false);
  });
});
