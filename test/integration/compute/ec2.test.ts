import { DescribeInstanceAttributeCommand } from '@aws-sdk/client-ec2';
import { Ec2Backend } from '../../../src/compute/ec2.js';
import type { LaunchRequest } from '../../../src/compute/types.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { runnerParameterName } from '../../../src/secrets/ssm.js';
import { clientsFor } from '../../helpers/aws-fixture.js';
import {
  allInstances,
  createEc2RunnerInfra,
  ec2Fleet,
  instanceById,
  tagsAsRecord,
  volumeTags,
  type Ec2RunnerInfra,
} from '../../helpers/ec2-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

function requestFor(fleet: string, runnerName: string, jobId: string): LaunchRequest {
  return { runnerName, jobId, credentialParameter: runnerParameterName(fleet, runnerName) };
}

describeWithMoto('the EC2 backend against moto', () => {
  let moto: Moto;
  let infra: Ec2RunnerInfra;
  let backend: Ec2Backend;
  const fleetNamed = (name: string, compute: Record<string, unknown> = {}): FleetSpec =>
    ec2Fleet({ name, compute: { launchTemplate: infra.launchTemplateName, subnets: infra.subnetIds, ...compute } });

  beforeAll(async () => {
    moto = await startMoto();
    infra = await createEc2RunnerInfra(moto);
    backend = new Ec2Backend(clientsFor(moto).ec2);
  });
  afterAll(() => moto?.stop());

  it('launches one on-demand instance from the template by name, tagged on the instance and its volume', async () => {
    const fleet = fleetNamed('by-name');
    const launched = await backend.launch(fleet, requestFor(fleet.name, 'by-name-7-abc123', '7'));

    expect(launched.computeDetail).toBe('m7i.large on-demand');
    const instance = await instanceById(moto, launched.computeId);
    expect(instance.State?.Name).toBe('running');
    expect(instance.InstanceType).toBe('m7i.large');
    expect(instance.ImageId).toBe(infra.imageId);
    expect(infra.subnetIds).toContain(instance.SubnetId);
    expect(instance.InstanceLifecycle).toBeUndefined();
    const fleetbotTags = { 'fleetbot:fleet': 'by-name', 'fleetbot:job': '7', 'fleetbot:runner': 'by-name-7-abc123' };
    // The template's own instance tags are kept alongside fleetbot's.
    expect(tagsAsRecord(instance.Tags)).toMatchObject({ ...fleetbotTags, team: 'ci' });
    const volumes = await volumeTags(moto, launched.computeId);
    expect(volumes).toHaveLength(1);
    expect(tagsAsRecord(volumes[0])).toEqual(fleetbotTags);
    const shutdown = await clientsFor(moto).ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: launched.computeId, Attribute: 'instanceInitiatedShutdownBehavior' }),
    );
    expect(shutdown.InstanceInitiatedShutdownBehavior?.Value).toBe('terminate');
  });

  it('launches from the template by id, on spot when the fleet allows it', async () => {
    const fleet = fleetNamed('by-id', {
      launchTemplate: infra.launchTemplateId,
      version: '$Default',
      instanceTypes: ['c7i.xlarge'],
      spot: true,
    });
    const launched = await backend.launch(fleet, requestFor(fleet.name, 'by-id-8-def456', '8'));

    expect(launched.computeDetail).toBe('c7i.xlarge spot');
    const instance = await instanceById(moto, launched.computeId);
    expect(instance.InstanceType).toBe('c7i.xlarge');
    expect(instance.InstanceLifecycle).toBe('spot');
    expect(tagsAsRecord(instance.Tags)).toMatchObject({
      'aws:ec2launchtemplate:id': infra.launchTemplateId,
      'fleetbot:runner': 'by-id-8-def456',
    });
  });

  it('sends the same client token when the same runner is launched again (AWS then answers with the first instance)', async () => {
    const fleet = fleetNamed('token');
    const first = await backend.launch(fleet, requestFor(fleet.name, 'token-9-aaa111', '9'));
    const again = await backend.launch(fleet, requestFor(fleet.name, 'token-9-aaa111', '9'));
    const other = await backend.launch(fleet, requestFor(fleet.name, 'token-10-bbb222', '10'));

    const tokenOf = async (id: string) => (await instanceById(moto, id)).ClientToken;
    expect(await tokenOf(first.computeId)).toMatch(/^[0-9a-f]{64}$/);
    expect(await tokenOf(again.computeId)).toBe(await tokenOf(first.computeId));
    expect(await tokenOf(other.computeId)).not.toBe(await tokenOf(first.computeId));
    // moto records the token but does not deduplicate on it (AWS does): it started a second instance.
    await backend.stop(fleet, again.computeId, 'test');
  });

  it('describes running, terminated and unknown instances in one call', async () => {
    const fleet = fleetNamed('states');
    const running = await backend.launch(fleet, requestFor(fleet.name, 'states-11-ccc333', '11'));
    const terminated = await backend.launch(fleet, requestFor(fleet.name, 'states-12-ddd444', '12'));
    await backend.stop(fleet, terminated.computeId, 'test');
    const unknown = 'i-0123456789abcdef0';

    const states = await backend.describe(fleet, [running.computeId, terminated.computeId, unknown]);
    expect(states).toEqual(
      new Map([
        [running.computeId, 'running'],
        [terminated.computeId, 'stopped'],
        [unknown, 'missing'],
      ]),
    );
    expect(await backend.describe(fleet, [])).toEqual(new Map());
  });

  it("lists only the fleet's live instances, with their runner names", async () => {
    const fleet = fleetNamed('listed');
    const live = await backend.launch(fleet, requestFor(fleet.name, 'listed-13-eee555', '13'));
    const gone = await backend.launch(fleet, requestFor(fleet.name, 'listed-14-fff666', '14'));
    await backend.stop(fleet, gone.computeId, 'test');
    const neighbour = await backend.launch(fleetNamed('neighbour'), requestFor(fleetNamed('neighbour').name, 'neighbour-15-ggg777', '15'));

    expect(await backend.list(fleet)).toEqual([{ computeId: live.computeId, runnerName: 'listed-13-eee555', state: 'running' }]);
    expect((await backend.list(fleetNamed('neighbour'))).map((runner) => runner.computeId)).toEqual([neighbour.computeId]);
    expect(await backend.list(fleetNamed('nobody'))).toEqual([]);
  });

  it('stops an instance once and treats stopping it again, or an unknown one, as done', async () => {
    const fleet = fleetNamed('stopped');
    const launched = await backend.launch(fleet, requestFor(fleet.name, 'stopped-16-hhh888', '16'));

    await backend.stop(fleet, launched.computeId, 'job finished');
    await expect(backend.stop(fleet, launched.computeId, 'job finished')).resolves.toBeUndefined();
    await expect(backend.stop(fleet, 'i-0123456789abcdef0', 'job finished')).resolves.toBeUndefined();
    expect((await instanceById(moto, launched.computeId)).State?.Name).toBe('terminated');
  });

  it('fails at once, starting nothing, when the launch template does not exist', async () => {
    const fleet = fleetNamed('broken', { launchTemplate: 'no-such-template', instanceTypes: ['m7i.large', 'm6i.large'], spot: true });
    const before = (await allInstances(moto)).length;

    await expect(backend.launch(fleet, requestFor(fleet.name, 'broken-17-iii999', '17'))).rejects.toMatchObject({
      name: 'InvalidLaunchTemplateName.NotFoundException',
    });
    expect(await allInstances(moto)).toHaveLength(before);
  });
});
