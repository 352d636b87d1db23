import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2Backend } from '../../../src/compute/ec2.js';
import { CapacityError } from '../../../src/compute/types.js';
import { ec2Error, ec2Fleet } from '../../helpers/ec2-fixture.js';

// moto cannot make RunInstances fail for lack of capacity, so these paths use a client mock.
describe('EC2 launches when capacity is short', () => {
  const ec2 = mockClient(EC2Client);
  const request = { runnerName: 'vm-1-abc123', jobId: '1', credentialParameter: '/fleetbot/runners/vm/vm-1-abc123' };
  const spotFleet = ec2Fleet({ name: 'vm', compute: { instanceTypes: ['m7i.large', 'm6i.large'], spot: true } });
  const started = { Instances: [{ InstanceId: 'i-0000000000000001' }] };
  const backend = () => new Ec2Backend(new EC2Client({}));
  const attempts = () =>
    ec2
      .commandCalls(RunInstancesCommand)
      .map(({ args: [{ input }] }) => `${input.InstanceType} ${input.InstanceMarketOptions?.MarketType ?? 'on-demand'} ${input.SubnetId}`);

  beforeEach(() => ec2.reset());

  it('sends one terminate-on-shutdown instance from the template, tagged, and nothing secret', async () => {
    ec2.on(RunInstancesCommand).resolves(started);
    const fleet = ec2Fleet({ name: 'vm', compute: { launchTemplate: 'lt-0abc123', version: '3' } });

    expect(await backend().launch(fleet, request)).toEqual({
      computeId: 'i-0000000000000001',
      computeDetail: 'm7i.large on-demand',
      spot: false,
    });
    const [
      {
        args: [{ input }],
      },
    ] = ec2.commandCalls(RunInstancesCommand);
    const tags = [
      { Key: 'fleetbot:fleet', Value: 'vm' },
      { Key: 'fleetbot:job', Value: '1' },
      { Key: 'fleetbot:runner', Value: 'vm-1-abc123' },
    ];
    expect(input).toEqual({
      LaunchTemplate: { LaunchTemplateId: 'lt-0abc123', Version: '3' },
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 'm7i.large',
      SubnetId: 'subnet-0a',
      InstanceInitiatedShutdownBehavior: 'terminate',
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      ClientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(input.UserData).toBeUndefined();
  });

  it('names the launch template unless it is an lt- id, at $Latest unless the fleet says otherwise', async () => {
    ec2.on(RunInstancesCommand).resolves(started);
    await backend().launch(ec2Fleet({ name: 'vm', compute: { launchTemplate: 'fleetbot-vm' } }), request);
    expect(ec2.commandCalls(RunInstancesCommand)[0].args[0].input.LaunchTemplate).toEqual({
      LaunchTemplateName: 'fleetbot-vm',
      Version: '$Latest',
    });
  });

  it('asks for one-time spot that terminates when interrupted', async () => {
    ec2.on(RunInstancesCommand).resolves(started);
    expect(await backend().launch(spotFleet, request)).toEqual({
      computeId: 'i-0000000000000001',
      computeDetail: 'm7i.large spot',
      spot: true,
    });
    expect(ec2.commandCalls(RunInstancesCommand)[0].args[0].input.InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
    });
  });

  it('falls back from spot to on-demand of the same type', async () => {
    ec2.on(RunInstancesCommand).rejectsOnce(ec2Error('InsufficientInstanceCapacity')).resolves(started);
    expect(await backend().launch(spotFleet, request)).toEqual({
      computeId: 'i-0000000000000001',
      computeDetail: 'm7i.large on-demand',
      spot: false,
    });
    expect(attempts()).toEqual(['m7i.large spot subnet-0a', 'm7i.large on-demand subnet-0a']);
  });

  it.each(['SpotMaxPriceTooLow', 'MaxSpotInstanceCountExceeded', 'Unsupported', 'InsufficientCapacityOnHost'])(
    'treats %s as a spot shortage',
    async (code) => {
      ec2.on(RunInstancesCommand).rejectsOnce(ec2Error(code)).resolves(started);
      expect((await backend().launch(spotFleet, request)).computeDetail).toBe('m7i.large on-demand');
    },
  );

  it('moves to the next instance type when on-demand is short too', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(ec2Error('InsufficientInstanceCapacity'))
      .rejectsOnce(ec2Error('InsufficientInstanceCapacity'))
      .resolves(started);
    expect((await backend().launch(spotFleet, request)).computeDetail).toBe('m6i.large spot');
    expect(attempts()).toEqual(['m7i.large spot subnet-0a', 'm7i.large on-demand subnet-0a', 'm6i.large spot subnet-0a']);
  });

  it('reports a capacity error naming every attempt when all are short', async () => {
    ec2.on(RunInstancesCommand).rejects(ec2Error('InsufficientInstanceCapacity'));
    const launch = backend().launch(spotFleet, request);
    await expect(launch).rejects.toBeInstanceOf(CapacityError);
    await expect(launch).rejects.toThrow(
      'no capacity for fleet vm: m7i.large spot in subnet-0a: InsufficientInstanceCapacity | ' +
        'm7i.large on-demand in subnet-0a: InsufficientInstanceCapacity | ' +
        'm6i.large spot in subnet-0a: InsufficientInstanceCapacity | ' +
        'm6i.large on-demand in subnet-0a: InsufficientInstanceCapacity',
    );
  });

  it.each(['InvalidLaunchTemplateName.NotFoundException', 'UnauthorizedOperation', 'InvalidParameterValue'])(
    'throws %s at once without trying anything else',
    async (code) => {
      ec2.on(RunInstancesCommand).rejects(ec2Error(code));
      await expect(backend().launch(spotFleet, request)).rejects.toMatchObject({ name: code });
      expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(1);
    },
  );

  it('uses on-demand only when the fleet does not allow spot', async () => {
    const onDemandOnly = ec2Fleet({ name: 'vm', compute: { instanceTypes: ['m7i.large', 'm6i.large'] } });
    ec2.on(RunInstancesCommand).rejectsOnce(ec2Error('InsufficientInstanceCapacity')).resolves(started);
    expect((await backend().launch(onDemandOnly, request)).computeDetail).toBe('m6i.large on-demand');
    expect(attempts()).toEqual(['m7i.large on-demand subnet-0a', 'm6i.large on-demand subnet-0a']);
  });

  describe('across subnets', () => {
    const zonal = ec2Fleet({ name: 'vm', compute: { instanceTypes: ['m7i.large'], subnets: ['subnet-0a', 'subnet-0b'], spot: true } });

    it('tries the next subnet when a zone is short, before giving up the market', async () => {
      ec2.on(RunInstancesCommand).rejectsOnce(ec2Error('InsufficientInstanceCapacity')).resolves(started);
      expect((await backend().launch(zonal, request)).computeDetail).toBe('m7i.large spot');
      const subnets = ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input.SubnetId);
      expect(new Set(subnets)).toEqual(new Set(['subnet-0a', 'subnet-0b']));
    });

    it('skips the other subnets when an account quota is the limit', async () => {
      ec2.on(RunInstancesCommand).rejectsOnce(ec2Error('MaxSpotInstanceCountExceeded')).resolves(started);
      expect((await backend().launch(zonal, request)).computeDetail).toBe('m7i.large on-demand');
      const markets = ec2
        .commandCalls(RunInstancesCommand)
        .map((call) => call.args[0].input.InstanceMarketOptions?.MarketType ?? 'on-demand');
      expect(markets).toEqual(['spot', 'on-demand']);
    });

    it('tries spot in every subnet, then on-demand in every subnet, for each type', async () => {
      ec2.on(RunInstancesCommand).rejects(ec2Error('InsufficientInstanceCapacity'));
      await expect(backend().launch(zonal, request)).rejects.toBeInstanceOf(CapacityError);
      const tried = attempts();
      expect(tried).toHaveLength(4);
      expect(tried.slice(0, 2).every((attempt) => attempt.startsWith('m7i.large spot'))).toBe(true);
      expect(tried.slice(2).every((attempt) => attempt.startsWith('m7i.large on-demand'))).toBe(true);
      expect(tried[0].split(' ')[2]).toBe(tried[2].split(' ')[2]);
    });

    it('starts different runners in different subnets', async () => {
      ec2.on(RunInstancesCommand).resolves(started);
      const instance = backend();
      for (let job = 1; job <= 16; job++) {
        await instance.launch(zonal, {
          runnerName: `vm-${job}-x`,
          jobId: String(job),
          credentialParameter: `/fleetbot/runners/vm/vm-${job}-x`,
        });
      }
      const first = new Set(ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input.SubnetId));
      expect(first).toEqual(new Set(['subnet-0a', 'subnet-0b']));
    });
  });

  describe('client tokens', () => {
    it('repeats the token when the same runner is launched again, so EC2 answers with the instance it started', async () => {
      ec2.on(RunInstancesCommand).resolves(started);
      await backend().launch(spotFleet, request);
      await backend().launch(spotFleet, request);
      await backend().launch(spotFleet, { ...request, runnerName: 'vm-2-def456', credentialParameter: '/fleetbot/runners/vm/vm-2-def456' });
      const [first, again, other] = ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input.ClientToken);
      expect(again).toBe(first);
      expect(other).not.toBe(first);
    });

    it('gives each attempt its own token, since EC2 refuses a token reused with other parameters', async () => {
      ec2.on(RunInstancesCommand).rejects(ec2Error('InsufficientInstanceCapacity'));
      await expect(backend().launch(spotFleet, request)).rejects.toBeInstanceOf(CapacityError);
      const tokens = ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input.ClientToken);
      expect(new Set(tokens).size).toBe(tokens.length);
    });
  });

  it('refuses a credential parameter the instance could not derive from its fleet and runner names', async () => {
    await expect(backend().launch(spotFleet, { ...request, credentialParameter: '/elsewhere/vm-1-abc123' })).rejects.toThrow(
      'EC2 runners read their credential from /fleetbot/runners/vm/vm-1-abc123, not /elsewhere/vm-1-abc123',
    );
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });
});

describe('EC2 describe, stop and list edge cases', () => {
  const ec2 = mockClient(EC2Client);
  const fleet = ec2Fleet({ name: 'vm' });
  const backend = () => new Ec2Backend(new EC2Client({}));
  const instance = (InstanceId: string, Name: string) => ({ InstanceId, State: { Name } }) as never;

  beforeEach(() => ec2.reset());

  it('maps every instance state', async () => {
    const states = ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'];
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: states.map((state) => instance(`i-${state}`, state)) }] });
    const described = await backend().describe(
      fleet,
      states.map((state) => `i-${state}`),
    );
    expect(Object.fromEntries(described)).toEqual({
      'i-pending': 'starting',
      'i-running': 'running',
      'i-shutting-down': 'stopped',
      'i-terminated': 'stopped',
      'i-stopping': 'stopped',
      'i-stopped': 'stopped',
    });
  });

  it('describes at most 1000 ids per call', async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const ids = Array.from({ length: 2500 }, (_, index) => `i-${index.toString(16).padStart(17, '0')}`);
    const states = await backend().describe(fleet, ids);
    expect(ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.InstanceIds?.length)).toEqual([1000, 1000, 500]);
    expect(new Set(states.values())).toEqual(new Set(['missing']));
  });

  it('keeps the known instances of a batch that holds an unknown id, by filtering on the ids', async () => {
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-1', 'i-gone'] }).rejects(ec2Error('InvalidInstanceID.NotFound'));
    ec2
      .on(DescribeInstancesCommand, { Filters: [{ Name: 'instance-id', Values: ['i-1', 'i-gone'] }] })
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-1', 'running')] }], NextToken: 'page-2' })
      .resolvesOnce({ Reservations: [] });
    expect(Object.fromEntries(await backend().describe(fleet, ['i-1', 'i-gone']))).toEqual({ 'i-1': 'running', 'i-gone': 'missing' });
    expect(ec2.commandCalls(DescribeInstancesCommand)[2].args[0].input.NextToken).toBe('page-2');
  });

  it('passes on other describe errors', async () => {
    ec2.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation'));
    await expect(backend().describe(fleet, ['i-1'])).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
  });

  it.each(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed'])('stops quietly when EC2 says %s', async (code) => {
    ec2.on(TerminateInstancesCommand).rejects(ec2Error(code));
    await expect(backend().stop(fleet, 'i-1', 'done')).resolves.toBeUndefined();
  });

  it('passes on other stop errors', async () => {
    ec2.on(TerminateInstancesCommand).rejects(ec2Error('UnauthorizedOperation'));
    await expect(backend().stop(fleet, 'i-1', 'done')).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
  });

  it("lists the fleet's pending and running instances across pages", async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [
          { Instances: [{ InstanceId: 'i-1', State: { Name: 'pending' }, Tags: [{ Key: 'fleetbot:runner', Value: 'vm-1' }] }] },
        ],
        NextToken: 't',
      })
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-2', State: { Name: 'running' } }] }] });
    expect(await backend().list(fleet)).toEqual([
      { computeId: 'i-1', runnerName: 'vm-1', state: 'starting' },
      { computeId: 'i-2', runnerName: undefined, state: 'running' },
    ]);
    const [first, second] = ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input);
    expect(first.Filters).toEqual([
      { Name: 'tag:fleetbot:fleet', Values: ['vm'] },
      { Name: 'instance-state-name', Values: ['pending', 'running'] },
    ]);
    expect(second.NextToken).toBe('t');
  });

  it('refuses a fleet that does not run on EC2', async () => {
    const ecs = { ...fleet, compute: { type: 'ecs' } } as never;
    await expect(backend().list(ecs)).rejects.toThrow('fleet vm does not run on EC2');
  });
});
