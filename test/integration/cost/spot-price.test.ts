import { DescribeSpotPriceHistoryCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2Backend } from '../../../src/compute/ec2.js';
import type { LaunchRequest } from '../../../src/compute/types.js';
import { estimateRunnerCost } from '../../../src/cost/estimate.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { runnerParameterName } from '../../../src/secrets/ssm.js';
import type { RunnerRecord } from '../../../src/store/types.js';
import { clientsFor } from '../../helpers/aws-fixture.js';
import { createEc2RunnerInfra, ec2Error, ec2Fleet, instanceById, type Ec2RunnerInfra } from '../../helpers/ec2-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

const requestFor = (fleet: string, runnerName: string): LaunchRequest => ({
  runnerName,
  jobId: '1',
  credentialParameter: runnerParameterName(fleet, runnerName),
});

describeWithMoto('the EC2 backend prices a spot instance at launch (DescribeSpotPriceHistory, moto)', () => {
  let moto: Moto;
  let infra: Ec2RunnerInfra;
  beforeAll(async () => {
    moto = await startMoto();
    infra = await createEc2RunnerInfra(moto);
  });
  afterAll(() => moto?.stop());

  const fleetNamed = (name: string, spot: boolean): FleetSpec =>
    ec2Fleet({ name, compute: { launchTemplate: infra.launchTemplateName, subnets: infra.subnetIds, instanceTypes: ['m5.large'], spot } });

  it("returns the spot price EC2 gives for the type in the instance's zone, and marks the runner spot", async () => {
    const fleet = fleetNamed('spot', true);
    const launched = await new Ec2Backend(clientsFor(moto).ec2).launch(fleet, requestFor(fleet.name, 'spot-1-abc123'));

    const zone = (await instanceById(moto, launched.computeId)).Placement!.AvailabilityZone!;
    const { SpotPriceHistory } = await clientsFor(moto).ec2.send(
      new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['m5.large'], ProductDescriptions: ['Linux/UNIX'], AvailabilityZone: zone }),
    );
    const price = Number(SpotPriceHistory!.find((entry) => entry.AvailabilityZone === zone)!.SpotPrice);
    expect(price).toBeGreaterThan(0);
    expect(launched).toMatchObject({ computeDetail: 'm5.large spot', spot: true, hourlyPriceDollars: price });

    // As the store keeps it (RunnerRecord's launch fields): two hours at the price seen.
    const runner = { computeId: launched.computeId, computeDetail: launched.computeDetail, createdAt: 0 } as RunnerRecord;
    const priced = { ...runner, launchedAt: 0, releasedAt: 7_200_000, hourlyPriceDollars: price, spot: true };
    expect(estimateRunnerCost(priced, fleet, 9_000_000)).toBeCloseTo(2 * price, 9);
  });

  it('gives an on-demand instance no spot price', async () => {
    const fleet = fleetNamed('on-demand', false);
    const launched = await new Ec2Backend(clientsFor(moto).ec2).launch(fleet, requestFor(fleet.name, 'on-demand-1-abc123'));
    expect(launched).toMatchObject({ computeDetail: 'm5.large on-demand', spot: false });
    expect(launched.hourlyPriceDollars).toBeUndefined();
  });
});

describe('a spot price EC2 will not give', () => {
  it('leaves the launch standing, unpriced (the estimate then prices it on demand)', async () => {
    const ec2 = mockClient(EC2Client);
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123', Placement: { AvailabilityZone: 'us-east-1a' } }] });
    ec2.on(DescribeSpotPriceHistoryCommand).rejects(ec2Error('UnauthorizedOperation'));
    const fleet = ec2Fleet({ name: 'spot', compute: { instanceTypes: ['m5.large'], spot: true } });
    const launched = await new Ec2Backend(new EC2Client({ region: 'us-east-1' })).launch(fleet, requestFor('spot', 'spot-2-abc123'));
    expect(launched).toEqual({ computeId: 'i-0123', computeDetail: 'm5.large spot', spot: true, hourlyPriceDollars: undefined });
    ec2.restore();
  });
});
