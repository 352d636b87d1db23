import type { LambdaFunctionURLEvent, SQSEvent } from 'aws-lambda';
import { GITHUB_WEBHOOK_PATH } from '../../../src/deliveries.js';
import { createRunnerInfra, ecsCompute, runningJobIds } from '../../helpers/aws-fixture.js';
import { appEnvironment, sign } from '../../helpers/app-process.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { describeWithMoto } from '../../helpers/moto.js';
import { useMotoAndGitHub } from '../../helpers/moto-and-github.js';
import { queuedJob } from '../../helpers/payloads.js';
import { createDeliveryQueues, messagesOn, receiveNow } from '../../helpers/queue-fixture.js';

function signedWebhook(jobId: number): LambdaFunctionURLEvent {
  const body = JSON.stringify(queuedJob({ jobId, org: 'acme', labels: ['self-hosted', 'linux', 'small'] }));
  return {
    version: '2.0',
    rawPath: GITHUB_WEBHOOK_PATH,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'workflow_job',
      'x-github-delivery': `lambda-${jobId}`,
      'x-hub-signature-256': sign(body),
    },
    body: Buffer.from(body).toString('base64'),
    isBase64Encoded: true,
    requestContext: { http: { method: 'POST' } },
  } as unknown as LambdaFunctionURLEvent;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

describeWithMoto('the Lambda functions against moto: webhooks → SQS → worker → ECS', () => {
  const env = useMotoAndGitHub();
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('turns signed webhooks into queued messages, and the worker turns those into one runner each', async () => {
    const infra = await createRunnerInfra(env.moto, 'runners-lambda');
    const queues = await createDeliveryQueues(env.moto, 'lambda-deliveries');
    const {
      PATH: _path,
      HOME: _home,
      ...appEnv
    } = appEnvironment(env.moto, env.github, [ecsFleet({ maxRunners: 100, compute: ecsCompute(infra) })], {
      FLEETBOT_QUEUE_URL: queues.url,
      LOG_LEVEL: 'warn',
    });
    Object.assign(process.env, appEnv);
    const lambda = await import('../../../src/lambda.js');

    const coldStart = Date.now();
    const first = await lambda.webhooks(signedWebhook(9500));
    const coldMs = Date.now() - coldStart;
    const warmMs: number[] = [];
    for (let jobId = 9501; jobId < 9550; jobId++) {
      const start = performance.now();
      expect(await lambda.webhooks(signedWebhook(jobId))).toMatchObject({ statusCode: 202 });
      warmMs.push(performance.now() - start);
    }
    expect(first).toMatchObject({ statusCode: 202 });
    expect(await messagesOn(queues.sqs, queues.url)).toBe(50);

    const failures: string[] = [];
    for (let batch = await receiveNow(queues.sqs, queues.url); batch.length > 0; batch = await receiveNow(queues.sqs, queues.url)) {
      const event: SQSEvent = {
        Records: batch.map((message) => ({
          messageId: message.MessageId!,
          receiptHandle: message.ReceiptHandle!,
          body: message.Body!,
          attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1' },
        })) as unknown as SQSEvent['Records'],
      };
      const { batchItemFailures } = await lambda.worker(event);
      failures.push(...batchItemFailures.map((failure) => failure.itemIdentifier));
    }

    expect(failures).toEqual([]);
    const expected = Array.from({ length: 50 }, (_, i) => String(9500 + i));
    expect(await runningJobIds(env.moto, infra.cluster)).toEqual(expected.sort());
    warmMs.sort((a, b) => a - b);
    console.info(
      `webhooks function: first invocation after import (builds its door) ${coldMs} ms; ` +
        `then p50 ${percentile(warmMs, 50).toFixed(1)} ms, p99 ${percentile(warmMs, 99).toFixed(1)} ms per delivery (moto SQS)`,
    );
  }, 90_000);
});
