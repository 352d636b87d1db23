import { DescribeTaskDefinitionCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { EcsBackend } from '../../../src/compute/ecs.js';
import { CapacityError } from '../../../src/compute/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

// moto cannot produce RunTask capacity failures, so these error paths use a client mock.
describe('ECS launches when capacity is short', () => {
  const ecs = mockClient(ECSClient);
  const request = { runnerName: 'spot-1-abc123', jobId: '1', credentialParameter: '/fleetbot/runners/spot-1-abc123' };
  const fleet = ecsFleet({ name: 'spot', compute: { capacityProviders: ['FARGATE_SPOT', 'FARGATE'], containerName: 'runner' } });
  const capacityFailure = { failures: [{ reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' }] };

  beforeEach(() => ecs.reset());

  it('falls through the capacity providers in order', async () => {
    ecs.on(RunTaskCommand).resolvesOnce(capacityFailure).resolvesOnce({ tasks: [{ taskArn: 'arn:task/1' }] });
    const launched = await new EcsBackend(new ECSClient({})).launch(fleet, request);
    expect(launched).toEqual({ computeId: 'arn:task/1', computeDetail: 'FARGATE' });
    const strategies = ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input.capacityProviderStrategy);
    expect(strategies).toEqual([[{ capacityProvider: 'FARGATE_SPOT', weight: 1 }], [{ capacityProvider: 'FARGATE', weight: 1 }]]);
  });

  it('reports a capacity error naming every provider tried when all are short', async () => {
    ecs.on(RunTaskCommand).resolves(capacityFailure);
    const launch = new EcsBackend(new ECSClient({})).launch(fleet, request);
    await expect(launch).rejects.toBeInstanceOf(CapacityError);
    await expect(launch).rejects.toThrow(/FARGATE_SPOT: Capacity is unavailable.*\| FARGATE: Capacity/);
  });

  it('does not try other providers on a failure that is not about capacity', async () => {
    ecs.on(RunTaskCommand).resolves({ failures: [{ reason: 'MISSING', detail: 'task definition' }] });
    await expect(new EcsBackend(new ECSClient({})).launch(fleet, request)).rejects.toThrow('RunTask started no task: MISSING (task definition)');
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('gives the credential variable to the task definition\'s first container when none is configured', async () => {
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
      { name: 'agent', environment: [{ name: 'FLEETBOT_RUNNER_CONFIG_PARAM', value: '/fleetbot/runners/spot-1-abc123' }] },
    ]);
  });
});
