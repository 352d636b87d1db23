import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateCapacityProviderCommand,
  CreateClusterCommand,
  DescribeContainerInstancesCommand,
  PutClusterCapacityProvidersCommand,
  RegisterContainerInstanceCommand,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { EcsBackend } from '../../../src/compute/ecs.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { autoScalingClientFor, createAsgRunnerInfra, createGroup, groupNamed } from '../../helpers/asg-fixture.js';
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
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    backend = new EcsBackend(clientsFor(moto).ecs);
  });
  afterAll(() => moto?.stop());

  it('launches one tagged Fargate task that is told only where its credential is', async () => {
    const launched = await backend.launch(fleet, {
      runnerName: 'linux-7-abc123',
      jobId: '7',
      credentialParameter: '/fleetbot/runners/linux/linux-7-abc123',
    });
    expect(launched.computeDetail).toBe('FARGATE');
    const [task] = (await fleetbotTasks(moto, 'runners')).filter((candidate) => candidate.taskArn === launched.computeId);
    expect(task.startedBy).toBe('fleetbot');
    expect(task.launchType).toBe('FARGATE');
    expect(tagOf(task, 'fleetbot:fleet')).toBe('linux');
    expect(tagOf(task, 'fleetbot:job')).toBe('7');
    expect(tagOf(task, 'fleetbot:runner')).toBe('linux-7-abc123');
    expect(task.overrides?.containerOverrides).toEqual([
      { name: 'runner', environment: [{ name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: '/fleetbot/runners/linux/linux-7-abc123' }] },
    ]);
  });

  it('lists running tasks of the fleet by runner name, describes and stops them', async () => {
    const launched = await backend.launch(fleet, {
      runnerName: 'linux-8-def456',
      jobId: '8',
      credentialParameter: '/fleetbot/runners/linux/linux-8-def456',
    });
    const listed = await backend.list(fleet);
    expect(listed).toContainEqual({
      computeId: launched.computeId,
      runnerName: 'linux-8-def456',
      state: expect.stringMatching(/starting|running/),
    });
    expect(await backend.list({ ...fleet, name: 'other' })).toEqual([]);

    await backend.stop(fleet, launched.computeId, 'test');
    const states = await backend.describe(fleet, [launched.computeId, 'arn:aws:ecs:us-east-1:123456789012:task/runners/0000']);
    expect(states.get(launched.computeId)).toBe('stopped');
    expect(states.get('arn:aws:ecs:us-east-1:123456789012:task/runners/0000')).toBe('missing');
    expect((await backend.list(fleet)).map((runner) => runner.runnerName)).not.toContain('linux-8-def456');
  });

  it('takes a stop in a cluster that no longer exists (its fleet was destroyed) for a task already gone', async () => {
    const destroyed = { ...fleet, compute: { ...fleet.compute, cluster: 'destroyed' } } as FleetSpec;
    await expect(backend.stop(destroyed, 'arn:aws:ecs:us-east-1:123456789012:task/destroyed/0000', 'test')).resolves.toBeUndefined();
  });

  it('fails loudly when the task definition does not exist', async () => {
    const broken = { ...fleet, compute: { ...fleet.compute, taskDefinition: 'absent', containerName: undefined } } as FleetSpec;
    await expect(backend.launch(broken, { runnerName: 'x', jobId: '1', credentialParameter: '/p' })).rejects.toThrow();
  });
});

describeWithMoto('the ECS backend on EC2 capacity, against moto', () => {
  let moto: Moto;
  let backend: EcsBackend;
  let fleetOn: (compute: Record<string, unknown>) => FleetSpec;
  let containerInstanceArn: string;
  let groupInstanceId: string;

  const request = (n: number) => ({
    runnerName: `ec2-${n}-abc123`,
    jobId: String(n),
    credentialParameter: `/fleetbot/runners/ec2/ec2-${n}-abc123`,
  });

  // What an operator's Terraform builds for ECS on EC2: an Auto Scaling group behind a capacity provider
  // of the cluster, whose instances' ECS agents register them as container instances.
  beforeAll(async () => {
    moto = await startMoto();
    const infra = await createRunnerInfra(moto);
    const { ecs } = clientsFor(moto);
    await ecs.send(new CreateClusterCommand({ clusterName: 'runners-ec2' }));
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'gh-runner-ec2',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['EC2'],
        containerDefinitions: [{ name: 'runner', image: 'fleetbot/github-runner:test', cpu: 1024, memory: 2048, essential: true }],
      }),
    );
    const asgInfra = await createAsgRunnerInfra(moto);
    await createGroup(moto, asgInfra, 'runners-ec2', { maxSize: 2 });
    await ecs.send(
      new CreateCapacityProviderCommand({
        name: 'runners-asg',
        autoScalingGroupProvider: {
          autoScalingGroupArn: (await groupNamed(moto, 'runners-ec2')).AutoScalingGroupARN!,
          managedTerminationProtection: 'DISABLED',
        },
      }),
    );
    await ecs.send(
      new PutClusterCapacityProvidersCommand({
        cluster: 'runners-ec2',
        capacityProviders: ['runners-asg'],
        defaultCapacityProviderStrategy: [],
      }),
    );
    // moto's ECS places EC2 tasks only on registered container instances: register the group's instance
    // as its ECS agent would.
    await autoScalingClientFor(moto).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'runners-ec2', DesiredCapacity: 1 }));
    groupInstanceId = (await groupNamed(moto, 'runners-ec2')).Instances![0].InstanceId!;
    const registered = await ecs.send(
      new RegisterContainerInstanceCommand({
        cluster: 'runners-ec2',
        instanceIdentityDocument: JSON.stringify({ instanceId: groupInstanceId }),
      }),
    );
    containerInstanceArn = registered.containerInstance!.containerInstanceArn!;
    fleetOn = (compute) =>
      ecsFleet({
        name: 'ec2',
        compute: {
          cluster: 'runners-ec2',
          taskDefinition: 'gh-runner-ec2',
          subnets: [infra.subnetId],
          securityGroups: [infra.securityGroupId],
          ...compute,
        },
      });
    backend = new EcsBackend(ecs);
  });
  afterAll(() => moto?.stop());

  async function taskOf(computeId: string) {
    const [task] = (await fleetbotTasks(moto, 'runners-ec2')).filter((candidate) => candidate.taskArn === computeId);
    return task;
  }

  it("runs a task on the container instance of an Auto Scaling group's capacity provider, and names both", async () => {
    const launched = await backend.launch(fleetOn({ capacityProviders: ['runners-asg'] }), request(1));

    const task = await taskOf(launched.computeId);
    expect(task.containerInstanceArn).toBe(containerInstanceArn);
    expect(launched.computeDetail).toBe(`runners-asg on container instance ${containerInstanceArn.split('/').pop()}`);
    expect(tagOf(task, 'fleetbot:runner')).toBe('ec2-1-abc123');
    const { containerInstances } = await clientsFor(moto).ecs.send(
      new DescribeContainerInstancesCommand({ cluster: 'runners-ec2', containerInstances: [containerInstanceArn] }),
    );
    expect(containerInstances?.[0].ec2InstanceId).toBe(groupInstanceId);
  });

  it('runs a task with launch type EC2 when the fleet names no capacity provider', async () => {
    const fleet = fleetOn({ launchType: 'EC2' });
    const launched = await backend.launch(fleet, request(2));

    const task = await taskOf(launched.computeId);
    expect(task.launchType).toBe('EC2');
    expect(task.containerInstanceArn).toBe(containerInstanceArn);
    expect(launched.computeDetail).toBe(`EC2 on container instance ${containerInstanceArn.split('/').pop()}`);
    expect(await backend.list(fleet)).toContainEqual({
      computeId: launched.computeId,
      runnerName: 'ec2-2-abc123',
      state: expect.stringMatching(/starting|running/),
    });
    await backend.stop(fleet, launched.computeId, 'test');
    expect((await backend.describe(fleet, [launched.computeId])).get(launched.computeId)).toBe('stopped');
  });
});
