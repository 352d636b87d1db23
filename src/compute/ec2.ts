import { createHash } from 'node:crypto';
import {
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type InstanceMarketOptionsRequest,
  type LaunchTemplateSpecification,
  type RunInstancesCommandInput,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import type { Ec2Compute, FleetSpec } from '../fleets/spec.js';
import { runnerParameterName } from '../secrets/ssm.js';
import {
  CapacityError,
  TAG_FLEET,
  TAG_JOB,
  TAG_RUNNER,
  type ComputeBackend,
  type ComputeRunner,
  type ComputeState,
  type LaunchRequest,
  type LaunchedRunner,
} from './types.js';
import { chunks, describeMatching, FILTER_VALUES, tagValue } from './ec2-instances.js';

// DescribeInstances takes at most 1000 instance ids per call.
const DESCRIBE_BATCH = 1000;

type Market = 'spot' | 'on-demand';

const SPOT: InstanceMarketOptionsRequest = {
  MarketType: 'spot',
  SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
};

/**
 * RunInstances error codes that mean "no room here" rather than "this request is wrong", and how far
 * the shortage reaches: `zone` is the subnet's availability zone (or the subnet itself), so another
 * subnet may have room; `region` is an account quota for the market, which no other subnet changes.
 * Every other error is thrown at once: asking elsewhere would fail the same way.
 */
const CAPACITY_ERRORS: ReadonlyMap<string, 'zone' | 'region'> = new Map([
  ['InsufficientInstanceCapacity', 'zone'],
  ['InsufficientCapacity', 'zone'],
  ['UnfulfillableCapacity', 'zone'],
  ['InsufficientHostCapacity', 'zone'],
  ['InsufficientCapacityOnHost', 'zone'],
  ['InsufficientFreeAddressesInSubnet', 'zone'],
  // Spot prices differ per zone.
  ['SpotMaxPriceTooLow', 'zone'],
  // The type, or spot for it, is not offered in this zone.
  ['Unsupported', 'zone'],
  ['MaxSpotInstanceCountExceeded', 'region'],
  ['VcpuLimitExceeded', 'region'],
  ['InstanceLimitExceeded', 'region'],
]);

function isGone(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'InvalidInstanceID.NotFound' || name === 'InvalidInstanceID.Malformed';
}

function stateOf(instance: Instance): ComputeState {
  switch (instance.State?.Name) {
    case 'running':
      return 'running';
    case 'shutting-down':
    case 'terminated':
    case 'stopping':
    case 'stopped':
      return 'stopped';
    default:
      return 'starting';
  }
}

function ec2Compute(fleet: FleetSpec): Ec2Compute {
  if (fleet.compute.type !== 'ec2') throw new Error(`fleet ${fleet.name} does not run on EC2`);
  return fleet.compute;
}

function launchTemplate(compute: Ec2Compute): LaunchTemplateSpecification {
  const reference = /^lt-[0-9a-f]+$/.test(compute.launchTemplate)
    ? { LaunchTemplateId: compute.launchTemplate }
    : { LaunchTemplateName: compute.launchTemplate };
  return { ...reference, Version: compute.version ?? '$Latest' };
}

function digest(...parts: string[]): Buffer {
  return createHash('sha256').update(JSON.stringify(parts)).digest();
}

/**
 * One token per runner and attempt (64 hex characters, EC2's limit): a RunInstances the SDK retries
 * after a timeout returns the instance it already started instead of a second one. Attempts differ in
 * type, market and subnet, and EC2 refuses a known token with other parameters, so each has its own.
 */
function clientToken(runnerName: string, instanceType: string, market: Market, subnet: string): string {
  return digest(runnerName, instanceType, market, subnet).toString('hex');
}

/**
 * The fleet's subnets, starting at one picked by the runner's name: launches spread over the zones,
 * and a repeated launch of the same runner asks in the same order, so its client tokens still match.
 */
function subnetOrder(subnets: readonly string[], runnerName: string): string[] {
  const start = digest(runnerName).readUInt32BE(0) % subnets.length;
  return [...subnets.slice(start), ...subnets.slice(0, start)];
}

/**
 * Runners as single-job EC2 instances from the fleet's launch template. The instance learns its fleet and
 * runner from its own `fleetbot:fleet` and `fleetbot:runner` tags (instance tags in IMDS) and derives its
 * credential's SSM parameter from them, so neither user data nor tags carry anything secret.
 */
export class Ec2Backend implements ComputeBackend {
  constructor(private readonly ec2: EC2Client) {}

  /** Each instance type in the fleet's order: spot in every subnet (if enabled), then on-demand. */
  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    const compute = ec2Compute(fleet);
    const expectedParameter = runnerParameterName(fleet.name, request.runnerName);
    if (request.credentialParameter !== expectedParameter) {
      // The instance cannot be told where its credential is; it only knows this derivation.
      throw new Error(`EC2 runners read their credential from ${expectedParameter}, not ${request.credentialParameter}`);
    }
    const tags = [
      { Key: TAG_FLEET, Value: fleet.name },
      { Key: TAG_JOB, Value: request.jobId },
      { Key: TAG_RUNNER, Value: request.runnerName },
    ];
    const base: RunInstancesCommandInput = {
      LaunchTemplate: launchTemplate(compute),
      MinCount: 1,
      MaxCount: 1,
      InstanceInitiatedShutdownBehavior: 'terminate',
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
    };
    const markets: Market[] = compute.spot ? ['spot', 'on-demand'] : ['on-demand'];
    const subnets = subnetOrder(compute.subnets, request.runnerName);
    const shortages: string[] = [];
    for (const instanceType of compute.instanceTypes) {
      for (const market of markets) {
        for (const subnet of subnets) {
          const outcome = await this.runInstance({
            ...base,
            // The SDK's union lags behind new types; EC2 itself judges the name.
            InstanceType: instanceType as _InstanceType,
            SubnetId: subnet,
            InstanceMarketOptions: market === 'spot' ? SPOT : undefined,
            ClientToken: clientToken(request.runnerName, instanceType, market, subnet),
          });
          if ('instanceId' in outcome) {
            const launched = { computeId: outcome.instanceId, computeDetail: `${instanceType} ${market}`, spot: market === 'spot' };
            return market === 'spot' ? { ...launched, hourlyPriceDollars: await this.spotPrice(instanceType, outcome.zone) } : launched;
          }
          shortages.push(`${instanceType} ${market} in ${subnet}: ${outcome.shortage}`);
          if (outcome.reach === 'region') break;
        }
      }
    }
    throw new CapacityError(`no capacity for fleet ${fleet.name}: ${shortages.join(' | ')}`);
  }

  // TerminateInstances takes no reason; the caller logs it.
  async stop(fleet: FleetSpec, computeId: string, _reason: string): Promise<void> {
    ec2Compute(fleet);
    try {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [computeId] }));
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  async describe(fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>> {
    ec2Compute(fleet);
    const states = new Map<string, ComputeState>(computeIds.map((id) => [id, 'missing']));
    for (const batch of chunks([...states.keys()], DESCRIBE_BATCH)) {
      for (const instance of await this.describeIds(batch)) {
        if (instance.InstanceId && states.has(instance.InstanceId)) states.set(instance.InstanceId, stateOf(instance));
      }
    }
    return states;
  }

  async list(fleet: FleetSpec): Promise<ComputeRunner[]> {
    ec2Compute(fleet);
    const instances = await describeMatching(this.ec2, [
      { Name: `tag:${TAG_FLEET}`, Values: [fleet.name] },
      { Name: 'instance-state-name', Values: ['pending', 'running'] },
    ]);
    return instances
      .filter((instance) => instance.InstanceId)
      .map((instance) => ({ computeId: instance.InstanceId!, runnerName: tagValue(instance, TAG_RUNNER), state: stateOf(instance) }));
  }

  /**
   * The spot price of the type in the instance's zone now, for cost estimates; undefined when EC2 does not
   * say (the launch stands: the estimate then prices the instance on demand, an upper bound).
   */
  private async spotPrice(instanceType: string, zone: string | undefined): Promise<number | undefined> {
    try {
      const { SpotPriceHistory: history } = await this.ec2.send(
        new DescribeSpotPriceHistoryCommand({
          InstanceTypes: [instanceType as _InstanceType],
          ProductDescriptions: ['Linux/UNIX'],
          AvailabilityZone: zone,
          StartTime: new Date(),
        }),
      );
      const price = Number(history?.find((entry) => !zone || entry.AvailabilityZone === zone)?.SpotPrice);
      return Number.isFinite(price) && price > 0 ? price : undefined;
    } catch {
      return undefined;
    }
  }

  private async runInstance(
    input: RunInstancesCommandInput,
  ): Promise<{ instanceId: string; zone?: string } | { shortage: string; reach: 'zone' | 'region' }> {
    let instanceId: string | undefined;
    let zone: string | undefined;
    try {
      const result = await this.ec2.send(new RunInstancesCommand(input));
      instanceId = result.Instances?.[0]?.InstanceId;
      zone = result.Instances?.[0]?.Placement?.AvailabilityZone;
    } catch (error) {
      const name = (error as Error).name;
      const reach = CAPACITY_ERRORS.get(name);
      if (!reach) throw error;
      return { shortage: name, reach };
    }
    if (!instanceId) throw new Error('RunInstances returned no instance');
    return { instanceId, zone };
  }

  private async describeIds(ids: string[]): Promise<Instance[]> {
    try {
      const result = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      return (result.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []);
    } catch (error) {
      if (!isGone(error)) throw error;
    }
    // One unknown id fails the whole call; a filter on the ids leaves out the unknown ones instead.
    const instances: Instance[] = [];
    for (const values of chunks(ids, FILTER_VALUES)) {
      instances.push(...(await describeMatching(this.ec2, [{ Name: 'instance-id', Values: values }])));
    }
    return instances;
  }
}
