import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type DescribeAutoScalingGroupsCommandOutput,
} from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { AsgBackend, claimId, parseClaimId } from '../../../src/compute/asg.js';
import { routerFor } from '../../helpers/compute-router.js';
import { CapacityError } from '../../../src/compute/types.js';
import { FleetsFileError, parseFleetsFile } from '../../../src/fleets/file.js';
import { asgFleet, autoScalingError } from '../../helpers/asg-fixture.js';
import { ec2Error, ec2Fleet } from '../../helpers/ec2-fixture.js';

interface FakeInstance {
  id: string;
  lifecycle: string;
  ec2State?: string;
  runner?: string;
  launchedAt?: number;
}

/**
 * A group as the two mocked clients report it. Calls that change it (desired capacity, protection,
 * tags, termination) change this state, so a test reads like a sequence of events.
 */
class FakeGroup {
  desired: number;
  readonly protectedIds = new Set<string>();
  /** What the backend changed, in order, across both clients. */
  readonly events: string[] = [];

  constructor(
    readonly name: string,
    public instances: FakeInstance[],
    readonly sizes: { min: number; max: number } = { min: 0, max: 10 },
  ) {
    this.desired = instances.length;
  }

  groups(): DescribeAutoScalingGroupsCommandOutput {
    return {
      $metadata: {},
      AutoScalingGroups: [
        {
          AutoScalingGroupName: this.name,
          MinSize: this.sizes.min,
          MaxSize: this.sizes.max,
          DesiredCapacity: this.desired,
          DefaultCooldown: 300,
          AvailabilityZones: ['us-east-1a'],
          HealthCheckType: 'EC2',
          CreatedTime: new Date(0),
          Instances: this.instances.map((instance) => ({
            InstanceId: instance.id,
            LifecycleState: instance.lifecycle as never,
            HealthStatus: 'Healthy',
            AvailabilityZone: 'us-east-1a',
            ProtectedFromScaleIn: this.protectedIds.has(instance.id),
          })),
        },
      ],
    };
  }

  ec2(ids: readonly string[] | undefined, runners: readonly string[] | undefined): Instance[] {
    return this.instances
      .filter((instance) => (!ids || ids.includes(instance.id)) && (!runners || (instance.runner && runners.includes(instance.runner))))
      .map((instance) => ({
        InstanceId: instance.id,
        State: { Name: (instance.ec2State ?? 'running') as never },
        LaunchTime: new Date(instance.launchedAt ?? 0),
        Tags: instance.runner ? [{ Key: 'fleetbot:runner', Value: instance.runner }] : [],
      }));
  }
}

describe('the Auto Scaling backend', () => {
  const autoScaling = mockClient(AutoScalingClient);
  const ec2 = mockClient(EC2Client);
  const fleet = asgFleet({ name: 'vm', maxRunners: 20, compute: { autoScalingGroup: 'runners' } });
  const request = (runnerName: string, jobId = '1') => ({ runnerName, jobId, credentialParameter: `/fleetbot/runners/vm/${runnerName}` });
  const backend = () => new AsgBackend(new AutoScalingClient({}), new EC2Client({}));
  let group: FakeGroup;

  function serve(fake: FakeGroup): void {
    group = fake;
    autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake(() => group.groups());
    autoScaling.on(SetDesiredCapacityCommand).callsFake((input) => {
      group.events.push(`desired ${input.DesiredCapacity}`);
      group.desired = input.DesiredCapacity;
      return {};
    });
    autoScaling.on(SetInstanceProtectionCommand).callsFake((input) => {
      group.events.push(`${input.ProtectedFromScaleIn ? 'protect' : 'unprotect'} ${input.InstanceIds.join(',')}`);
      for (const id of input.InstanceIds) {
        if (input.ProtectedFromScaleIn) group.protectedIds.add(id);
        else group.protectedIds.delete(id);
      }
      return {};
    });
    autoScaling.on(TerminateInstanceInAutoScalingGroupCommand).callsFake((input) => {
      group.events.push(`terminate ${input.InstanceId}${input.ShouldDecrementDesiredCapacity ? ' and decrement' : ''}`);
      group.instances = group.instances.filter((instance) => instance.id !== input.InstanceId);
      if (input.ShouldDecrementDesiredCapacity) group.desired--;
      return {};
    });
    ec2.on(DescribeInstancesCommand).callsFake((input) => {
      const filter = (name: string) => input.Filters?.find((candidate: { Name: string }) => candidate.Name === name)?.Values;
      return { Reservations: [{ Instances: group.ec2(filter('instance-id'), filter('tag:fleetbot:runner')) }] };
    });
    ec2.on(CreateTagsCommand).callsFake((input) => {
      const runner = input.Tags.find((tag: { Key: string }) => tag.Key === 'fleetbot:runner').Value;
      group.events.push(`tag ${input.Resources[0]} ${runner}`);
      for (const instance of group.instances) if (instance.id === input.Resources[0]) instance.runner = runner;
      return {};
    });
  }

  beforeEach(() => {
    autoScaling.reset();
    ec2.reset();
  });

  describe('launch', () => {
    it('raises the desired capacity by one, ignoring the cooldown, and returns a claim on the group', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-0-busy' }]));
      expect(await backend().launch(fleet, request('vm-1-abc'))).toEqual({
        computeId: 'asg:runners:vm-1-abc',
        computeDetail: 'asg runners',
      });
      expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((call) => call.args[0].input)).toEqual([
        { AutoScalingGroupName: 'runners', DesiredCapacity: 2, HonorCooldown: false },
      ]);
    });

    it('lets launches that arrive together share one reading and one capacity change', async () => {
      serve(new FakeGroup('runners', []));
      const instance = backend();
      const names = ['vm-1-a', 'vm-2-b', 'vm-3-c', 'vm-4-d', 'vm-5-e'];
      await Promise.all(names.map((name) => instance.launch(fleet, request(name))));
      expect(autoScaling.commandCalls(DescribeAutoScalingGroupsCommand)).toHaveLength(1);
      expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((call) => call.args[0].input.DesiredCapacity)).toEqual([5]);
    });

    it('gives a free InService instance to the launch instead of raising the capacity, protected before it is tagged', async () => {
      serve(
        new FakeGroup('runners', [
          { id: 'i-new', lifecycle: 'InService', launchedAt: 2000 },
          { id: 'i-old', lifecycle: 'InService', launchedAt: 1000 },
          { id: 'i-booting', lifecycle: 'Pending', ec2State: 'pending', launchedAt: 500 },
        ]),
      );
      await backend().launch(fleet, request('vm-1-abc', '42'));
      expect(group.events).toEqual(['protect i-old', 'tag i-old vm-1-abc']);
      expect(ec2.commandCalls(CreateTagsCommand)[0].args[0].input).toEqual({
        Resources: ['i-old'],
        Tags: [
          { Key: 'fleetbot:fleet', Value: 'vm' },
          { Key: 'fleetbot:runner', Value: 'vm-1-abc' },
          { Key: 'fleetbot:job', Value: '42' },
        ],
      });
    });

    it("refuses launches beyond the group's maximum size, counting runners with instances", async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-0-busy' }], { min: 0, max: 2 }));
      const instance = backend();
      const results = await Promise.allSettled([instance.launch(fleet, request('vm-1-a')), instance.launch(fleet, request('vm-2-b'))]);
      expect(results[0].status).toBe('fulfilled');
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(CapacityError);
      expect(group.desired).toBe(2);
    });

    it("refuses launches beyond the fleet's maxRunners without touching the group", async () => {
      const small = asgFleet({ name: 'vm', maxRunners: 1, compute: { autoScalingGroup: 'runners' } });
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-0-busy' }], { min: 0, max: 10 }));
      await expect(backend().launch(small, request('vm-3-c'))).rejects.toThrow(
        'is full: 1 runners, at most 1 (group maximum 10, fleet maxRunners 1)',
      );
      expect(autoScaling.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
    });

    it('forgets the claim when the capacity change fails, so nothing waits for an instance', async () => {
      serve(new FakeGroup('runners', []));
      autoScaling.on(SetDesiredCapacityCommand).rejectsOnce(autoScalingError('ScalingActivityInProgress'));
      const instance = backend();
      await expect(instance.launch(fleet, request('vm-1-a'))).rejects.toMatchObject({ name: 'ScalingActivityInProgress' });
      expect(await instance.list(fleet)).toEqual([]);
    });

    it('refuses a credential parameter the instance could not derive from its fleet and runner names', async () => {
      await expect(backend().launch(fleet, { ...request('vm-1-a'), credentialParameter: '/elsewhere/vm-1-a' })).rejects.toThrow(
        'Auto Scaling runners read their credential from /fleetbot/runners/vm/vm-1-a, not /elsewhere/vm-1-a',
      );
      expect(autoScaling.calls()).toHaveLength(0);
    });
  });

  describe('handing instances to runners', () => {
    it('leaves the claim waiting when the instance left the group before it could be protected', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-gone', lifecycle: 'InService' }]));
      autoScaling
        .on(SetInstanceProtectionCommand)
        .rejectsOnce(autoScalingError('ValidationError', 'The instance i-gone is not part of Auto Scaling group runners'));
      const instance = backend();
      await instance.launch(fleet, request('vm-1-a'));

      expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
      expect(await instance.list(fleet)).toEqual([{ computeId: 'asg:runners:vm-1-a', runnerName: 'vm-1-a', state: 'running' }]);
      expect(group.instances[0].runner).toBe('vm-1-a');
    });

    it('passes on other errors from protecting or tagging', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService' }]));
      ec2.on(CreateTagsCommand).rejects(ec2Error('UnauthorizedOperation'));
      await expect(backend().launch(fleet, request('vm-1-a'))).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    });
  });

  describe('describe', () => {
    it('maps lifecycle and EC2 states, and learns claims it did not make', async () => {
      serve(
        new FakeGroup('runners', [
          { id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' },
          { id: 'i-2', lifecycle: 'Terminating', runner: 'vm-2-b' },
          { id: 'i-3', lifecycle: 'InService', ec2State: 'shutting-down', runner: 'vm-3-c' },
          { id: 'i-4', lifecycle: 'Standby', runner: 'vm-4-d' },
          { id: 'i-5', lifecycle: 'Pending', ec2State: 'pending', runner: 'vm-5-e' },
        ]),
      );
      const ids = ['vm-1-a', 'vm-2-b', 'vm-3-c', 'vm-4-d', 'vm-5-e', 'vm-6-waiting'].map((name) => claimId('runners', name));
      const states = await backend().describe(fleet, ids);
      expect([...states.values()]).toEqual(['running', 'stopped', 'stopped', 'running', 'starting', 'starting']);
      // Four live instances serve runners, one claim waits: the group must ask for five.
      expect(group.desired).toBe(5);
    });

    it('describes a claim whose instance has left the group as stopped, not as waiting', async () => {
      serve(new FakeGroup('runners', []));
      ec2.on(DescribeInstancesCommand).resolves({
        Reservations: [
          { Instances: [{ InstanceId: 'i-old', State: { Name: 'terminated' }, Tags: [{ Key: 'fleetbot:runner', Value: 'vm-1-a' }] }] },
        ],
      });
      expect(await backend().describe(fleet, [claimId('runners', 'vm-1-a')])).toEqual(new Map([['asg:runners:vm-1-a', 'stopped']]));
      expect(autoScaling.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
    });
  });

  describe('stop', () => {
    it('removes the protection, then terminates the instance with a decrement', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' }]));
      await backend().stop(fleet, claimId('runners', 'vm-1-a'), 'job completed');
      expect(group.events).toEqual(['unprotect i-1', 'terminate i-1 and decrement']);
      expect(group.desired).toBe(0);
    });

    it('lowers the capacity by one when the instance left the group just before it was terminated', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' }]));
      group.desired = 1;
      autoScaling.on(TerminateInstanceInAutoScalingGroupCommand).callsFake(() => {
        group.instances = [];
        throw autoScalingError('ValidationError', 'Instance Id not found - No managed instance found for instance ID: i-1');
      });
      await backend().stop(fleet, claimId('runners', 'vm-1-a'), 'job completed');
      expect(group.desired).toBe(0);
    });

    it('passes on a ValidationError about an instance that is still in the group', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' }]));
      autoScaling
        .on(TerminateInstanceInAutoScalingGroupCommand)
        .rejects(autoScalingError('ValidationError', 'Currently, desiredSize equals minSize'));
      await expect(backend().stop(fleet, claimId('runners', 'vm-1-a'), 'done')).rejects.toMatchObject({ name: 'ValidationError' });
    });

    it('lowers the capacity for a claim without an instance only while the group asks for more than its claims need', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' }]));
      group.desired = 2;
      const instance = backend();
      await instance.stop(fleet, claimId('runners', 'vm-2-b'), 'job cancelled');
      await instance.stop(fleet, claimId('runners', 'vm-2-b'), 'job cancelled');
      expect(group.events).toEqual(['desired 1']);
    });

    it('keeps an unclaimed instance that a waiting claim is about to get', async () => {
      serve(new FakeGroup('runners', [{ id: 'i-1', lifecycle: 'Pending', ec2State: 'pending' }]));
      const instance = backend();
      await instance.launch(fleet, request('vm-1-a'));
      await instance.stop(fleet, 'i-1', 'no live runner record');
      // The booting instance is the capacity the claim waits for: neither launch nor stop changed anything.
      expect(group.events).toEqual([]);
    });

    it('terminates an unclaimed instance nobody waits for, and nothing for one that is gone or serves a runner', async () => {
      serve(
        new FakeGroup('runners', [
          { id: 'i-1', lifecycle: 'InService', runner: 'vm-1-a' },
          { id: 'i-2', lifecycle: 'InService' },
        ]),
      );
      await backend().stop(fleet, 'i-1', 'no live runner record');
      await backend().stop(fleet, 'i-gone', 'no live runner record');
      await backend().stop(fleet, 'i-2', 'no live runner record');
      expect(group.events).toEqual(['unprotect i-2', 'terminate i-2 and decrement']);
    });
  });

  it('refuses a fleet that does not run on an Auto Scaling group', async () => {
    await expect(backend().list(ec2Fleet({ name: 'vm' }))).rejects.toThrow('fleet vm does not run on an Auto Scaling group');
  });

  it('is the backend the router picks for asg fleets', async () => {
    serve(new FakeGroup('runners', []));
    const router = routerFor({ asg: backend() });
    expect((await router.launch(fleet, request('vm-1-a'))).computeId).toBe('asg:runners:vm-1-a');
  });
});

describe('Auto Scaling claim ids', () => {
  it('name the group and the runner, and nothing else parses as one', () => {
    expect(parseClaimId(claimId('my.group-1', 'vm-1-abc'))).toEqual({ group: 'my.group-1', runnerName: 'vm-1-abc' });
    for (const id of ['i-0123456789abcdef0', 'asg:', 'asg:group', 'asg::runner', 'asg:group:', 'arn:aws:ecs:task/1']) {
      expect(parseClaimId(id)).toBeUndefined();
    }
  });
});

describe('asg fleets in the fleets file', () => {
  const file = (group: string, extra = '') => `
fleets:
  - name: linux-asg
    labels: [self-hosted, linux]
    maxRunners: 50
    compute:
      type: asg
      autoScalingGroup: ${group}${extra}
`;
  const problemsOf = (text: string) => {
    try {
      parseFleetsFile(text, 'fleetbot.yml');
    } catch (error) {
      expect(error).toBeInstanceOf(FleetsFileError);
      return (error as FleetsFileError).problems;
    }
    throw new Error('expected the fleets file to be rejected');
  };

  it('names the group and nothing else', () => {
    expect(parseFleetsFile(file('fleetbot-linux.asg_1'), 'fleetbot.yml').fleets[0].compute).toEqual({
      type: 'asg',
      autoScalingGroup: 'fleetbot-linux.asg_1',
    });
    expect(problemsOf(file('runners', '\n      subnets: [subnet-123]'))).toEqual([expect.stringMatching(/compute: .*subnets/)]);
  });

  it.each([
    ['a Terraform expression', '"${var.group}"'],
    ['a colon', 'a:b'],
    ['a leading dash', '-leading-dash'],
    ['a space', '"has space"'],
    ['256 characters', 'x'.repeat(256)],
  ])('refuses a group name with %s', (_case, name) => {
    expect(problemsOf(file(name))).toEqual([expect.stringMatching(/compute\.autoScalingGroup: expected an Auto Scaling group name/)]);
  });
});
