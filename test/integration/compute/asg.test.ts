import { AutoScalingClient, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { AWS_RETRY } from '../../../src/aws-calls.js';
import { AsgBackend, claimId } from '../../../src/compute/asg.js';
import { CapacityError, type LaunchRequest } from '../../../src/compute/types.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { runnerParameterName } from '../../../src/secrets/ssm.js';
import {
  asgFleet,
  autoScalingClientFor,
  createAsgRunnerInfra,
  createGroup,
  groupNamed,
  startQueryFaultProxy,
  type AsgRunnerInfra,
  type QueryFaultProxy,
} from '../../helpers/asg-fixture.js';
import { clientsFor } from '../../helpers/aws-fixture.js';
import { instanceById, tagsAsRecord } from '../../helpers/ec2-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

function requestFor(fleet: string, runnerName: string, jobId: string): LaunchRequest {
  return { runnerName, jobId, credentialParameter: runnerParameterName(fleet, runnerName) };
}

describeWithMoto('the Auto Scaling backend against moto', () => {
  let moto: Moto;
  let infra: AsgRunnerInfra;
  let backend: AsgBackend;
  const newBackend = (autoScaling: AutoScalingClient = autoScalingClientFor(moto)) => new AsgBackend(autoScaling, clientsFor(moto).ec2);

  /** A fleet on a group of its own, named after the fleet. */
  async function fleetWithGroup(
    name: string,
    sizes: { maxSize: number; minSize?: number } = { maxSize: 10 },
    maxRunners = 20,
  ): Promise<FleetSpec> {
    await createGroup(moto, infra, `${name}-group`, sizes);
    return asgFleet({ name, maxRunners, compute: { autoScalingGroup: `${name}-group` } });
  }

  /** The group's instances that are still in it, by instance id. */
  async function members(group: string) {
    const instances = (await groupNamed(moto, group)).Instances ?? [];
    return new Map(instances.map((instance) => [instance.InstanceId!, instance]));
  }

  beforeAll(async () => {
    moto = await startMoto();
    infra = await createAsgRunnerInfra(moto);
    backend = newBackend();
  });
  afterAll(() => moto?.stop());

  it('raises the desired capacity by one per launch and hands the new instance to the runner, protected and tagged', async () => {
    const fleet = await fleetWithGroup('claims');
    const launched = await backend.launch(fleet, requestFor(fleet.name, 'claims-1-aaa111', '1'));

    expect(launched).toEqual({ computeId: 'asg:claims-group:claims-1-aaa111', computeDetail: 'asg claims-group' });
    expect((await groupNamed(moto, 'claims-group')).DesiredCapacity).toBe(1);

    const listed = await backend.list(fleet);
    expect(listed).toEqual([
      { computeId: launched.computeId, runnerName: 'claims-1-aaa111', state: expect.stringMatching(/^(starting|running)$/) },
    ]);
    const [[instanceId, member]] = [...(await members('claims-group'))];
    expect(member.ProtectedFromScaleIn).toBe(true);
    const tags = tagsAsRecord((await instanceById(moto, instanceId)).Tags);
    expect(tags).toMatchObject({
      'fleetbot:fleet': 'claims',
      'fleetbot:runner': 'claims-1-aaa111',
      'fleetbot:job': '1',
      'aws:autoscaling:groupName': 'claims-group',
    });
    expect(await backend.describe(fleet, [launched.computeId])).toEqual(new Map([[launched.computeId, 'running']]));
  });

  it('serves a burst of launches with one instance each, first come first served', async () => {
    const fleet = await fleetWithGroup('burst');
    const runners = ['burst-1-a', 'burst-2-b', 'burst-3-c', 'burst-4-d', 'burst-5-e'];
    const launched = await Promise.all(
      runners.map((runner, index) => backend.launch(fleet, requestFor(fleet.name, runner, String(index + 1)))),
    );

    expect(launched.map((runner) => runner.computeId)).toEqual(runners.map((runner) => claimId('burst-group', runner)));
    expect((await groupNamed(moto, 'burst-group')).DesiredCapacity).toBe(5);
    const listed = await backend.list(fleet);
    expect(listed.map((runner) => runner.runnerName).sort()).toEqual(runners);
    const instances = await members('burst-group');
    expect(instances.size).toBe(5);
    expect([...instances.values()].every((instance) => instance.ProtectedFromScaleIn)).toBe(true);
    const tagged = await Promise.all(
      [...instances.keys()].map(async (id) => tagsAsRecord((await instanceById(moto, id)).Tags)['fleetbot:runner']),
    );
    expect(tagged.sort()).toEqual(runners);
  });

  it('launches the same runner again without a second instance', async () => {
    const fleet = await fleetWithGroup('again');
    const first = await backend.launch(fleet, requestFor(fleet.name, 'again-1-aaa', '1'));
    await backend.list(fleet);
    const again = await backend.launch(fleet, requestFor(fleet.name, 'again-1-aaa', '1'));

    expect(again.computeId).toBe(first.computeId);
    expect((await groupNamed(moto, 'again-group')).DesiredCapacity).toBe(1);
  });

  it("never asks for more than the fleet's maxRunners or the group's maximum size", async () => {
    const byFleet = await fleetWithGroup('fleet-cap', { maxSize: 5 }, 2);
    await backend.launch(byFleet, requestFor(byFleet.name, 'fleet-cap-1-a', '1'));
    await backend.launch(byFleet, requestFor(byFleet.name, 'fleet-cap-2-b', '2'));
    const third = backend.launch(byFleet, requestFor(byFleet.name, 'fleet-cap-3-c', '3'));
    await expect(third).rejects.toBeInstanceOf(CapacityError);
    await expect(third).rejects.toThrow(
      'Auto Scaling group fleet-cap-group is full: 2 runners, at most 2 (group maximum 5, fleet maxRunners 2)',
    );
    expect((await groupNamed(moto, 'fleet-cap-group')).DesiredCapacity).toBe(2);

    // moto would accept a desired capacity above the maximum size; AWS refuses it, so the backend checks.
    const byGroup = await fleetWithGroup('group-cap', { maxSize: 2 });
    const results = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((suffix, index) =>
        backend.launch(byGroup, requestFor(byGroup.name, `group-cap-${index}-${suffix}`, String(index))),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect((await groupNamed(moto, 'group-cap-group')).DesiredCapacity).toBe(2);
    expect(await backend.list(byGroup)).toHaveLength(2);

    // A stop makes room again.
    const [first] = results as PromiseFulfilledResult<{ computeId: string }>[];
    await backend.stop(byGroup, first.value.computeId, 'job completed');
    await expect(backend.launch(byGroup, requestFor(byGroup.name, 'group-cap-4-e', '4'))).resolves.toMatchObject({
      computeDetail: 'asg group-cap-group',
    });
    expect((await groupNamed(moto, 'group-cap-group')).DesiredCapacity).toBe(2);
  });

  it('stops a runner by terminating its instance and lowering the desired capacity, once', async () => {
    const fleet = await fleetWithGroup('stops');
    const kept = await backend.launch(fleet, requestFor(fleet.name, 'stops-1-keep', '1'));
    const done = await backend.launch(fleet, requestFor(fleet.name, 'stops-2-done', '2'));
    await backend.list(fleet);
    const doneInstance = (await backend.list(fleet)).find((runner) => runner.runnerName === 'stops-2-done');
    expect(doneInstance).toBeDefined();
    const instanceIdOf = async (runnerName: string) => {
      for (const id of (await members('stops-group')).keys()) {
        if (tagsAsRecord((await instanceById(moto, id)).Tags)['fleetbot:runner'] === runnerName) return id;
      }
      return undefined;
    };
    const doneId = (await instanceIdOf('stops-2-done'))!;

    await backend.stop(fleet, done.computeId, 'job completed');
    expect((await instanceById(moto, doneId)).State?.Name).toMatch(/^(shutting-down|terminated)$/);
    expect((await groupNamed(moto, 'stops-group')).DesiredCapacity).toBe(1);
    expect([...(await members('stops-group')).keys()]).toEqual([await instanceIdOf('stops-1-keep')]);
    expect(await backend.describe(fleet, [kept.computeId, done.computeId])).toEqual(
      new Map([
        [kept.computeId, 'running'],
        [done.computeId, 'stopped'],
      ]),
    );

    await backend.stop(fleet, done.computeId, 'job completed');
    expect((await groupNamed(moto, 'stops-group')).DesiredCapacity).toBe(1);
    expect(await backend.list(fleet)).toEqual([{ computeId: kept.computeId, runnerName: 'stops-1-keep', state: 'running' }]);
  });

  it('gives back the capacity of an instance that powered off by itself, so the group does not keep its replacement', async () => {
    const fleet = await fleetWithGroup('selfoff');
    const keep = await backend.launch(fleet, requestFor(fleet.name, 'selfoff-1-keep', '1'));
    const gone = await backend.launch(fleet, requestFor(fleet.name, 'selfoff-2-gone', '2'));
    await backend.list(fleet);
    const byRunner = new Map<string, string>();
    for (const id of (await members('selfoff-group')).keys())
      byRunner.set(tagsAsRecord((await instanceById(moto, id)).Tags)['fleetbot:runner']!, id);

    // The runner's one job ended and the instance shut down: the group replaces it, as AWS does.
    await clientsFor(moto).ec2.send(new TerminateInstancesCommand({ InstanceIds: [byRunner.get('selfoff-2-gone')!] }));
    const afterPowerOff = await members('selfoff-group');
    expect(afterPowerOff.size).toBe(2);
    expect(afterPowerOff.has(byRunner.get('selfoff-2-gone')!)).toBe(false);

    expect(await backend.describe(fleet, [keep.computeId, gone.computeId])).toEqual(
      new Map([
        [keep.computeId, 'running'],
        [gone.computeId, 'stopped'],
      ]),
    );
    await backend.stop(fleet, gone.computeId, 'job completed');
    const group = await groupNamed(moto, 'selfoff-group');
    expect(group.DesiredCapacity).toBe(1);
    // The protected instance of the running runner stays; the unclaimed replacement went.
    expect(group.Instances!.map((instance) => instance.InstanceId)).toEqual([byRunner.get('selfoff-1-keep')]);
  });

  it('stops a claim that has no instance yet by lowering the desired capacity', async () => {
    const fleet = await fleetWithGroup('waiting', { maxSize: 10 });
    // A second backend, as after a restart: it learns the claim from describe.
    const launched = await backend.launch(fleet, requestFor(fleet.name, 'waiting-1-aaa', '1'));
    const restarted = newBackend();
    await autoScalingClientFor(moto).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'waiting-group', DesiredCapacity: 0 }));

    expect(await restarted.describe(fleet, [launched.computeId])).toEqual(new Map([[launched.computeId, 'starting']]));
    expect((await groupNamed(moto, 'waiting-group')).DesiredCapacity).toBe(1);
    expect(await restarted.describe(fleet, [launched.computeId])).toEqual(new Map([[launched.computeId, 'running']]));

    const other = await restarted.launch(fleet, requestFor(fleet.name, 'waiting-2-bbb', '2'));
    expect((await groupNamed(moto, 'waiting-group')).DesiredCapacity).toBe(2);
    await restarted.stop(fleet, other.computeId, 'job cancelled');
    expect((await groupNamed(moto, 'waiting-group')).DesiredCapacity).toBe(1);
    expect((await restarted.list(fleet)).map((runner) => runner.runnerName)).toEqual(['waiting-1-aaa']);
  });

  it('lists an instance no runner claimed under its instance id, and stops it for good', async () => {
    const fleet = await fleetWithGroup('spare');
    await autoScalingClientFor(moto).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'spare-group', DesiredCapacity: 1 }));
    const [spareId] = (await members('spare-group')).keys();

    expect(await backend.list(fleet)).toEqual([
      { computeId: spareId, runnerName: undefined, state: expect.stringMatching(/^(starting|running)$/) },
    ]);
    await backend.stop(fleet, spareId, 'no live runner record');
    expect((await groupNamed(moto, 'spare-group')).DesiredCapacity).toBe(0);
    expect(await backend.list(fleet)).toEqual([]);
  });

  it('hands a spare instance to the next launch instead of starting another', async () => {
    const fleet = await fleetWithGroup('reuse');
    await autoScalingClientFor(moto).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'reuse-group', DesiredCapacity: 1 }));
    const [spareId] = (await members('reuse-group')).keys();

    await backend.launch(fleet, requestFor(fleet.name, 'reuse-1-aaa', '1'));
    expect((await groupNamed(moto, 'reuse-group')).DesiredCapacity).toBe(1);
    expect(tagsAsRecord((await instanceById(moto, spareId)).Tags)['fleetbot:runner']).toBe('reuse-1-aaa');
  });

  it('describes claims of unknown groups, and ids that are no claims, as missing', async () => {
    const fleet = await fleetWithGroup('unknown');
    const ids = ['asg:no-such-group:unknown-1-a', 'i-0123456789abcdef0', 'asg:broken'];
    expect(await backend.describe(fleet, ids)).toEqual(new Map(ids.map((id) => [id, 'missing'])));
    expect(await backend.describe(fleet, [])).toEqual(new Map());
  });

  it('refuses to launch into a group that does not exist or keeps instances up for nobody', async () => {
    const missing = asgFleet({ name: 'nogroup', compute: { autoScalingGroup: 'no-such-group' } });
    await expect(backend.launch(missing, requestFor(missing.name, 'nogroup-1-a', '1'))).rejects.toThrow(
      'Auto Scaling group no-such-group does not exist',
    );
    expect(await backend.list(missing)).toEqual([]);

    const minimum = await fleetWithGroup('minimum', { maxSize: 5, minSize: 1 });
    await expect(backend.launch(minimum, requestFor(minimum.name, 'minimum-1-a', '1'))).rejects.toThrow(
      'Auto Scaling group minimum-group has a minimum size of 1; fleetbot sizes it from 0',
    );
    expect((await groupNamed(moto, 'minimum-group')).DesiredCapacity).toBe(1);
  });

  describe('when Auto Scaling answers with errors', () => {
    let proxy: QueryFaultProxy;
    const throughProxy = () =>
      newBackend(
        new AutoScalingClient({
          ...AWS_RETRY,
          endpoint: proxy.url,
          region: 'us-east-1',
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        }),
      );

    beforeAll(async () => {
      proxy = await startQueryFaultProxy(moto.url);
    });
    afterAll(() => proxy?.close());

    it('retries a throttled SetDesiredCapacity until it goes through', async () => {
      const fleet = await fleetWithGroup('throttled');
      proxy.failNext('SetDesiredCapacity', 2, 400, 'Throttling');
      proxy.calls.set('SetDesiredCapacity', 0);

      await throughProxy().launch(fleet, requestFor(fleet.name, 'throttled-1-a', '1'));
      expect(proxy.calls.get('SetDesiredCapacity')).toBe(3);
      expect((await groupNamed(moto, 'throttled-group')).DesiredCapacity).toBe(1);
    });

    it('passes a ValidationError on at once and keeps no claim for the failed launch', async () => {
      const fleet = await fleetWithGroup('invalid');
      const proxied = throughProxy();
      proxy.failNext('SetDesiredCapacity', 1, 400, 'ValidationError');
      proxy.calls.set('SetDesiredCapacity', 0);

      await expect(proxied.launch(fleet, requestFor(fleet.name, 'invalid-1-a', '1'))).rejects.toMatchObject({ name: 'ValidationError' });
      expect(proxy.calls.get('SetDesiredCapacity')).toBe(1);
      expect((await groupNamed(moto, 'invalid-group')).DesiredCapacity).toBe(0);
      expect(await proxied.list(fleet)).toEqual([]);
    });
  });
});
