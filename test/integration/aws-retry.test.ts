import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AWS_RETRY } from '../../src/aws-calls.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { RunnerSecrets } from '../../src/secrets/ssm.js';
import { createRunnerInfra, fleetbotTasks, readParameter } from '../helpers/aws-fixture.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';

describeWithMoto('AWS throttling and server errors', () => {
  let moto: Moto;
  let proxy: FaultyProxy;
  const through = () => ({
    ...AWS_RETRY,
    endpoint: proxy.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultyProxy(moto.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await moto?.stop();
  });

  it('retries a throttled RunTask with backoff until it goes through', async () => {
    const infra = await createRunnerInfra(moto);
    const fleet = ecsFleet({
      compute: { cluster: infra.cluster, subnets: [infra.subnetId], securityGroups: [infra.securityGroupId], containerName: 'runner' },
    });
    proxy.failNext('RunTask', 3, 400, 'ThrottlingException');
    const started = Date.now();
    const launched = await new EcsBackend(new ECSClient(through())).launch(fleet, {
      runnerName: 'linux-small-1-aaaaaa',
      jobId: '1',
      credentialParameter: '/fleetbot/runners/linux-small/linux-small-1-aaaaaa',
    });
    expect(proxy.calls.get('RunTask')).toBe(4);
    expect(Date.now() - started).toBeGreaterThan(50);
    const tasks = await fleetbotTasks(moto, infra.cluster);
    expect(tasks.map((task) => task.taskArn)).toEqual([launched.computeId]);
  });

  it('retries SSM 5xx answers and stores the credential once', async () => {
    proxy.failNext('PutParameter', 2, 503, 'InternalServerError');
    await new RunnerSecrets(new SSMClient(through())).put({ fleet: 'linux-small', name: 'linux-small-2-bbbbbb' }, 'jit');
    expect(proxy.calls.get('PutParameter')).toBe(3);
    expect((await readParameter(moto, '/fleetbot/runners/linux-small/linux-small-2-bbbbbb'))?.Value).toBe('jit');
  });

  it('gives up after the configured attempts so the scheduler can requeue the job', async () => {
    proxy.failNext('PutParameter', AWS_RETRY.maxAttempts, 400, 'ThrottlingException');
    proxy.calls.set('PutParameter', 0);
    await expect(
      new RunnerSecrets(new SSMClient(through())).put({ fleet: 'linux-small', name: 'linux-small-3-cccccc' }, 'jit'),
    ).rejects.toThrow(/Rate exceeded/);
    expect(proxy.calls.get('PutParameter')).toBe(AWS_RETRY.maxAttempts);
  });
});
