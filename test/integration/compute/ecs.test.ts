import { EcsBackend } from '../../../src/compute/ecs.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, tagOf } from '../../helpers/aws-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

describeWithMoto('the ECS backend against moto', () => {
  let moto: Moto;
  let fleet: FleetSpec;
  let backend: EcsBackend;

  beforeAll(async () => {
    moto = await startMoto();
    const infra = await createRunnerInfra(moto);
    fleet = ecsFleet({
      name: 'linux',
      compute: { cluster: infra.cluster, taskDefinition: infra.taskDefinition, subnets: [infra.subnetId], securityGroups: [infra.securityGroupId] },
    });
    backend = new EcsBackend(clientsFor(moto).ecs);
  });
  afterAll(() => moto?.stop());

  it('launches one tagged Fargate task that is told only where its credential is', async () => {
    const launched = await backend.launch(fleet, { runnerName: 'linux-7-abc123', jobId: '7', credentialParameter: '/fleetbot/runners/linux-7-abc123' });
    expect(launched.computeDetail).toBe('FARGATE');
    const [task] = (await fleetbotTasks(moto, 'runners')).filter((candidate) => candidate.taskArn === launched.computeId);
    expect(task.startedBy).toBe('fleetbot');
    expect(task.launchType).toBe('FARGATE');
    expect(tagOf(task, 'fleetbot:fleet')).toBe('linux');
    expect(tagOf(task, 'fleetbot:job')).toBe('7');
    expect(tagOf(task, 'fleetbot:runner')).toBe('linux-7-abc123');
    expect(task.overrides?.containerOverrides).toEqual([
      { name: 'runner', environment: [{ name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: '/fleetbot/runners/linux-7-abc123' }] },
    ]);
  });

  it('lists running tasks of the fleet by runner name, describes and stops them', async () => {
    const launched = await backend.launch(fleet, { runnerName: 'linux-8-def456', jobId: '8', credentialParameter: '/fleetbot/runners/linux-8-def456' });
    const listed = await backend.list(fleet);
    expect(listed).toContainEqual({ computeId: launched.computeId, runnerName: 'linux-8-def456', state: expect.stringMatching(/starting|running/) });
    expect(await backend.list({ ...fleet, name: 'other' })).toEqual([]);

    await backend.stop(fleet, launched.computeId, 'test');
    const states = await backend.describe(fleet, [launched.computeId, 'arn:aws:ecs:us-east-1:123456789012:task/runners/0000']);
    expect(states.get(launched.computeId)).toBe('stopped');
    expect(states.get('arn:aws:ecs:us-east-1:123456789012:task/runners/0000')).toBe('missing');
    expect((await backend.list(fleet)).map((runner) => runner.runnerName)).not.toContain('linux-8-def456');
  });

  it('fails loudly when the task definition does not exist', async () => {
    const broken = { ...fleet, compute: { ...fleet.compute, taskDefinition: 'absent', containerName: undefined } } as FleetSpec;
    await expect(backend.launch(broken, { runnerName: 'x', jobId: '1', credentialParameter: '/p' })).rejects.toThrow();
  });
});
