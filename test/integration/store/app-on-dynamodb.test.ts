import { createAwsClients } from '../../../src/aws.js';
import { createStoreTable } from '../../../src/cli/store-table.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { DynamoStore } from '../../../src/store/dynamo.js';
import type { AppUnderTest } from '../../helpers/app-harness.js';
import { createRunnerInfra, fleetbotTasks, tagOf } from '../../helpers/aws-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { describeWithMoto } from '../../helpers/moto.js';
import { useMotoAndGitHub } from '../../helpers/moto-and-github.js';
import { completedJob, queuedJob } from '../../helpers/payloads.js';

/** Two replicas of the app, in-process, sharing one DynamoDB table (FLEETBOT_STORE=dynamodb:<table>). */
describeWithMoto('the app on a DynamoDB store, two replicas', () => {
  const env = useMotoAndGitHub({ serialMoto: true });
  const replicas: AppUnderTest[] = [];
  afterEach(async () => {
    // The helper closes the replica started last; the other one is closed here.
    for (const replica of replicas.splice(0, replicas.length - 1)) await replica.close();
  });

  async function twoReplicas(maxRunners: number): Promise<{ fleet: FleetSpec; cluster: string }> {
    const infra = await createRunnerInfra(env.moto, 'dynamo-runners');
    const fleet = ecsFleet({
      name: 'linux-small',
      maxRunners,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const settings = { endpoint: env.moto.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    await createStoreTable(createAwsClients(settings).dynamodb, 'fleetbot-jobs');
    for (let replica = 0; replica < 2; replica++) {
      const jobStore = new DynamoStore({ client: createAwsClients(settings).dynamodb, table: 'fleetbot-jobs', retentionMs: 86_400_000 });
      replicas.push(await env.startApp({ fleets: [fleet], jobStore }));
    }
    return { fleet, cluster: infra.cluster };
  }

  it('launches each job once and never above maxRunners, whichever replica hears of it, and the backlog in arrival order', async () => {
    const { cluster } = await twoReplicas(3);
    const running = async () => (await fleetbotTasks(env.moto, cluster)).filter((task) => task.lastStatus !== 'STOPPED');
    const ids = Array.from({ length: 10 }, (_, index) => 500 + index);
    // Every job reaches both replicas (a redelivery, or two deliveries racing), all at once.
    await Promise.all(
      ids.flatMap((jobId) => replicas.map((replica) => replica.deliver('workflow_job', queuedJob({ jobId, org: 'acme' })))),
    );

    const runningJobs = async () => (await running()).map((task) => tagOf(task, 'fleetbot:job')!);
    expect(new Set(await runningJobs()).size).toBe(3);
    expect((await replicas[0].jobs.fleetCounts()).get('linux-small')).toEqual({ active: 3, waiting: 7 });

    // Each completion, heard by either replica, launches the oldest waiting job; never more than three run.
    const fromBacklog: string[] = [];
    for (let round = 0; round < ids.length; round++) {
      const replica = replicas[round % 2];
      const before = await runningJobs();
      const job = await replica.jobs.getJob('github', before[0]);
      expect(job?.status).toBe('launched');
      await replica.deliver('workflow_job', completedJob({ jobId: Number(job!.jobId), org: 'acme', runnerName: job!.runnerName }));
      const after = await runningJobs();
      expect(after.length).toBeLessThanOrEqual(3);
      fromBacklog.push(...after.filter((jobId) => !before.includes(jobId)));
    }
    expect(fromBacklog).toHaveLength(7);
    const arrivals = await Promise.all(fromBacklog.map(async (jobId) => (await replicas[0].jobs.getJob('github', jobId))!.receivedAt));
    expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
    expect(await running()).toEqual([]);
    expect((await fleetbotTasks(env.moto, cluster)).map((task) => tagOf(task, 'fleetbot:job')).sort()).toEqual(ids.map(String));
  }, 120_000);
});
