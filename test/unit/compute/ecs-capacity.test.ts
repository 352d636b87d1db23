import { DescribeTaskDefinitionCommand, ECSClient, InvalidParameterException, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { EcsBackend } from '../../../src/compute/ecs.js';
import { CapacityError } from '../../../src/compute/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

// moto cannot produce RunTask capacity failures (it places what fits and reports nothing), so these
// error paths use a client mock.
describe('ECS launches when capacity is short', () => {
  const ecs = mockClient(ECSClient);
  const request = { runnerName: 'spot-1-abc123', jobId: '1', credentialParameter: '/fleetbot/runners/spot/spot-1-abc123' };
  const fleet = ecsFleet({ name: 'spot', compute: { capacityProviders: ['FARGATE_SPOT', 'FARGATE'], containerName: 'runner' } });
  const capacityFailure = {
    failures: [{ reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' }],
  };

  beforeEach(() => ecs.reset());

  it('falls through the capacity providers in order', async () => {
    ecs
      .on(RunTaskCommand)
      .resolvesOnce(capacityFailure)
      .resolvesOnce({ tasks: [{ taskArn: 'arn:task/1' }] });
    const launched = await new EcsBackend(new ECSClient({})).launch(fleet, request);
    expect(launched).toEqual({ computeId: 'arn:task/1', computeDetail: 'FARGATE', spot: false });
    const strategies = ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input.capacityProviderStrategy);
    expect(strategies).toEqual([[{ capacityProvider: 'FARGATE_SPOT', weight: 1 }], [{ capacityProvider: 'FARGATE', weight: 1 }]]);
  });

  it('says a task Fargate Spot took is spot (its cost is estimated at Fargate Spot rates)', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: 'arn:task/2' }] });
    expect(await new EcsBackend(new ECSClient({})).launch(fleet, request)).toEqual({
      computeId: 'arn:task/2',
      computeDetail: 'FARGATE_SPOT',
      spot: true,
    });
  });

  it('reports a capacity error naming every provider tried when all are short', async () => {
    ecs.on(RunTaskCommand).resolves(capacityFailure);
    const launch = new EcsBackend(new ECSClient({})).launch(fleet, request);
    await expect(launch).rejects.toBeInstanceOf(CapacityError);
    await expect(launch).rejects.toThrow(/FARGATE_SPOT: Capacity is unavailable.*\| FARGATE: Capacity/);
  });

  it('does not try other providers on a failure that is not about capacity', async () => {
    ecs.on(RunTaskCommand).resolves({ failures: [{ reason: 'MISSING', detail: 'task definition' }] });
    await expect(new EcsBackend(new ECSClient({})).launch(fleet, request)).rejects.toThrow(
      'RunTask started no task: MISSING (task definition)',
    );
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it("gives the credential variable to the task definition's first container when none is configured", async () => {
    ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { containerDefinitions: [{ name: 'agent' }, { name: 'sidecar' }] } });
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: 'arn:task/2' }] });
    const backend = new EcsBackend(new ECSClient({}));
    const plain = ecsFleet();
    await backend.launch(plain, request);
    await backend.launch(plain, request);
    expect(ecs.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(1);
    const input = ecs.commandCalls(RunTaskCommand)[0].args[0].input;
    expect(input.launchType).toBe('FARGATE');
    expect(input.overrides?.containerOverrides).toEqual([
      { name: 'agent', environment: [{ name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: '/fleetbot/runners/spot/spot-1-abc123' }] },
    ]);
  });

  describe('on EC2 capacity', () => {
    const asgFirst = ecsFleet({ name: 'ec2', compute: { capacityProviders: ['runners-asg', 'FARGATE'], containerName: 'runner' } });
    const ec2Only = ecsFleet({ name: 'ec2', compute: { launchType: 'EC2', containerName: 'runner' } });
    const containerInstance = 'arn:aws:ecs:us-east-1:123456789012:container-instance/runners/0f1e2d3c4b5a';
    const noInstances = () =>
      new InvalidParameterException({ message: 'No Container Instances were found in your cluster.', $metadata: { httpStatusCode: 400 } });

    it.each(['RESOURCE:CPU', 'RESOURCE:MEMORY', 'RESOURCE:ENI', 'AGENT'])(
      'falls through to the next provider when container instances report %s',
      async (reason) => {
        ecs
          .on(RunTaskCommand)
          .resolvesOnce({ failures: [{ arn: containerInstance, reason }] })
          .resolvesOnce({ tasks: [{ taskArn: 'arn:task/3' }] });
        const launched = await new EcsBackend(new ECSClient({})).launch(asgFirst, request);
        expect(launched).toEqual({ computeId: 'arn:task/3', computeDetail: 'FARGATE', spot: false });
        const strategies = ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input.capacityProviderStrategy);
        expect(strategies).toEqual([[{ capacityProvider: 'runners-asg', weight: 1 }], [{ capacityProvider: 'FARGATE', weight: 1 }]]);
      },
    );

    it('takes a cluster without container instances for a shortage, and names every placement tried', async () => {
      ecs.on(RunTaskCommand).rejectsOnce(noInstances()).resolvesOnce(capacityFailure);
      const launch = new EcsBackend(new ECSClient({})).launch(asgFirst, request);
      await expect(launch).rejects.toBeInstanceOf(CapacityError);
      await expect(launch).rejects.toThrow(
        /runners-asg: No Container Instances were found in your cluster\. \| FARGATE: Capacity is unavailable/,
      );
    });

    it('reports a capacity error for launch type EC2 when no container instance can take the task', async () => {
      ecs.on(RunTaskCommand).rejects(noInstances());
      await expect(new EcsBackend(new ECSClient({})).launch(ec2Only, request)).rejects.toThrow(
        new CapacityError('no capacity for fleet ec2: EC2: No Container Instances were found in your cluster.'),
      );
    });

    it('launches with launch type EC2 and names the container instance that took the task', async () => {
      ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: 'arn:task/4', containerInstanceArn: containerInstance }] });
      const launched = await new EcsBackend(new ECSClient({})).launch(ec2Only, request);
      expect(launched).toEqual({ computeId: 'arn:task/4', computeDetail: 'EC2 on container instance 0f1e2d3c4b5a', spot: false });
      const [input] = ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input);
      expect(input).toMatchObject({ launchType: 'EC2' });
      expect(input.capacityProviderStrategy).toBeUndefined();
    });

    it('does not take other InvalidParameterExceptions for a shortage', async () => {
      ecs.on(RunTaskCommand).rejects(
        new InvalidParameterException({
          message: 'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster.',
          $metadata: { httpStatusCode: 400 },
        }),
      );
      await expect(new EcsBackend(new ECSClient({})).launch(asgFirst, request)).rejects.toBeInstanceOf(InvalidParameterException);
      expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    });

    it('does not take a placement constraint no instance meets (ATTRIBUTE) for a shortage', async () => {
      ecs.on(RunTaskCommand).resolves({ failures: [{ arn: containerInstance, reason: 'ATTRIBUTE' }] });
      await expect(new EcsBackend(new ECSClient({})).launch(asgFirst, request)).rejects.toThrow('RunTask started no task: ATTRIBUTE');
      expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    });
  });
});
