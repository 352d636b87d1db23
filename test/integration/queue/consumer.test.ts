import { ListTasksCommand } from '@aws-sdk/client-ecs';
import type { VerifiedDelivery } from '../../../src/deliveries.js';
import { QueueConsumer } from '../../../src/queue/consumer.js';
import { decodeDelivery } from '../../../src/queue/message.js';
import { clientsFor, createRunnerInfra, ecsCompute, fleetbotTasks, tagOf } from '../../helpers/aws-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { logLines } from '../../helpers/log-lines.js';
import { describeWithMoto } from '../../helpers/moto.js';
import { useMotoAndGitHub } from '../../helpers/moto-and-github.js';
import { queuedJob } from '../../helpers/payloads.js';
import { createDeliveryQueues, messagesOn, receiveNow, sendDeliveries } from '../../helpers/queue-fixture.js';
import { pino } from 'pino';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const workflowJob = (jobId: number, labels = ['self-hosted', 'linux', 'small']): VerifiedDelivery => ({
  ci: 'github',
  id: `delivery-${jobId}`,
  event: 'workflow_job',
  body: JSON.stringify(queuedJob({ jobId, org: 'acme', labels })),
});

/** Every task fleetbot started in the cluster, counted over ListTasks' pages. */
async function taskCount(env: ReturnType<typeof useMotoAndGitHub>, cluster: string): Promise<number> {
  const { ecs } = clientsFor(env.moto);
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(new ListTasksCommand({ cluster, startedBy: 'fleetbot', nextToken }));
    count += page.taskArns?.length ?? 0;
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}

describeWithMoto('the delivery queue against moto (SQS, ECS)', () => {
  const env = useMotoAndGitHub();
  const consumers: QueueConsumer[] = [];
  const consumer = (options: ConstructorParameters<typeof QueueConsumer>[0]) => {
    const started = new QueueConsumer(options);
    consumers.push(started);
    started.start();
    return started;
  };
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((started) => started.stop()));
  });

  it('hands a queued delivery to the app, which launches one runner on ECS, and deletes the message', async () => {
    const infra = await createRunnerInfra(env.moto, 'runners-consumed');
    const app = await env.startApp({ fleets: [ecsFleet({ compute: ecsCompute(infra) })] });
    const queues = await createDeliveryQueues(env.moto, 'consumed');
    consumer({ sqs: queues.sqs, queueUrl: queues.url, handle: (delivery) => app.fleetbot.replay(delivery), log: app.probot.log });

    await sendDeliveries(queues, [workflowJob(8101)]);
    await until(async () => (await messagesOn(queues.sqs, queues.url)) === 0, 15_000, 'the message to be deleted');
    await app.fleetbot.idle();

    const tasks = await fleetbotTasks(env.moto, infra.cluster);
    expect(tasks.map((task) => tagOf(task, 'fleetbot:job'))).toEqual(['8101']);
    expect(app.logs.some((line) => line.includes('"deliveryId":"delivery-8101"'))).toBe(true);
  });

  it('leaves a delivery that keeps failing to come back, and after five receives the queue moves it to its dead-letter queue', async () => {
    const queues = await createDeliveryQueues(env.moto, 'failing', { visibilityTimeoutSeconds: 1, maxReceiveCount: 5 });
    const { lines, sink } = logLines();
    const attempts: string[] = [];
    consumer({
      sqs: queues.sqs,
      queueUrl: queues.url,
      handle: async (delivery) => {
        attempts.push(delivery.id!);
        throw new Error('GitHub answered 502');
      },
      log: pino({ level: 'warn' }, sink),
      visibilityTimeoutSeconds: 1,
      waitTimeSeconds: 1,
    });

    await sendDeliveries(queues, [workflowJob(8201)]);
    await until(async () => (await messagesOn(queues.sqs, queues.deadLetterUrl)) === 1, 30_000, 'the dead-letter queue');

    expect(attempts).toEqual(Array(5).fill('delivery-8201'));
    expect(await messagesOn(queues.sqs, queues.url)).toBe(0);
    const [dead] = await receiveNow(queues.sqs, queues.deadLetterUrl);
    expect(decodeDelivery(dead!.Body!)).toEqual(workflowJob(8201));
    const failures = lines.filter((line) => line.includes('a queued delivery failed'));
    expect(failures.map((line) => JSON.parse(line).receiveCount)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps a message hidden while its work runs longer than the visibility timeout, so that no other consumer takes it', async () => {
    const queues = await createDeliveryQueues(env.moto, 'slow', { visibilityTimeoutSeconds: 2 });
    const handled: string[] = [];
    const slow = async (delivery: VerifiedDelivery) => {
      await sleep(5_000);
      handled.push(delivery.id!);
    };
    const log = pino({ level: 'silent' });
    for (let i = 0; i < 2; i++)
      consumer({ sqs: queues.sqs, queueUrl: queues.url, handle: slow, log, visibilityTimeoutSeconds: 2, waitTimeSeconds: 1 });

    await sendDeliveries(queues, [workflowJob(8301)]);
    await until(async () => handled.length > 0 && (await messagesOn(queues.sqs, queues.url)) === 0, 20_000, 'the slow delivery');
    await sleep(2_500);

    expect(handled).toEqual(['delivery-8301']);
  });

  it('on stop, receives no more and finishes the delivery in hand before it resolves', async () => {
    const queues = await createDeliveryQueues(env.moto, 'stopping');
    let started!: () => void;
    const inHand = new Promise<void>((resolve) => (started = resolve));
    const handled: string[] = [];
    const stopping = consumer({
      sqs: queues.sqs,
      queueUrl: queues.url,
      handle: async (delivery) => {
        started();
        await sleep(1_500);
        handled.push(delivery.id!);
      },
      log: pino({ level: 'silent' }),
      waitTimeSeconds: 1,
    });

    await sendDeliveries(queues, [workflowJob(8401)]);
    await inHand;
    await stopping.stop();
    await sendDeliveries(queues, [workflowJob(8402)]);
    await sleep(1_500);

    expect(handled).toEqual(['delivery-8401']);
    expect(await messagesOn(queues.sqs, queues.url)).toBe(1);
  });

  it('logs a queue it cannot receive from, tries again with a growing pause, and still stops at once', async () => {
    const { lines, sink } = logLines();
    const missing = consumer({
      sqs: (await createDeliveryQueues(env.moto, 'present')).sqs,
      queueUrl: `${env.moto.url}/123456789012/no-such-queue`,
      handle: async () => undefined,
      log: pino({ level: 'error' }, sink),
      waitTimeSeconds: 1,
    });

    await until(async () => lines.length >= 2, 10_000, 'two failed receives');
    const started = Date.now();
    await missing.stop();

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(lines.map((line) => JSON.parse(line).retryInMs).slice(0, 2)).toEqual([1_000, 2_000]);
    expect(lines[0]).toContain('could not receive from the delivery queue');
  });

  it('launches one runner per job for a burst in which 5 % of the deliveries come twice, with nothing left in the dead-letter queue', async () => {
    const jobs = 300;
    const infra = await createRunnerInfra(env.moto, 'runners-burst');
    const app = await env.startApp({ fleets: [ecsFleet({ maxRunners: 1_000, compute: ecsCompute(infra) })] });
    const queues = await createDeliveryQueues(env.moto, 'burst');
    const deliveries = Array.from({ length: jobs }, (_, i) => workflowJob(90_000 + i));
    const twice = deliveries.filter((_, i) => i % 20 === 7);
    const started = Date.now();
    for (let i = 0; i < 2; i++) {
      consumer({ sqs: queues.sqs, queueUrl: queues.url, handle: (delivery) => app.fleetbot.replay(delivery), log: app.probot.log });
    }

    await sendDeliveries(queues, [...deliveries, ...twice]);
    const sent = Date.now();
    await until(async () => (await messagesOn(queues.sqs, queues.url)) === 0, 240_000, 'the queue to empty');
    await app.fleetbot.idle();
    const done = Date.now();

    const tasks = await taskCount(env, infra.cluster);
    expect(twice).toHaveLength(15);
    expect(tasks).toBe(jobs);
    const jobIds = (await fleetbotTasks(env.moto, infra.cluster)).map((task) => tagOf(task, 'fleetbot:job'));
    expect(new Set(jobIds).size).toBe(jobs);
    expect(await messagesOn(queues.sqs, queues.deadLetterUrl)).toBe(0);
    console.info(
      `queue burst: ${jobs} jobs + ${twice.length} duplicate messages sent in ${sent - started} ms; ` +
        `all consumed and ${tasks} tasks launched ${done - started} ms after the first send (2 consumers, concurrency 20 each)`,
    );
  }, 300_000);
});
