import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { VerifiedDelivery } from '../../src/deliveries.js';
import { encodeDelivery } from '../../src/queue/message.js';
import type { Moto } from './moto.js';

/** A delivery queue in moto with its dead-letter queue, as the control plane makes them. */
export interface DeliveryQueues {
  sqs: SQSClient;
  url: string;
  deadLetterUrl: string;
}

function sqsFor(moto: Moto): SQSClient {
  return new SQSClient({ endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** The queue redrives a message to the dead-letter queue after `maxReceiveCount` receives. */
export async function createDeliveryQueues(
  moto: Moto,
  name: string,
  options: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
): Promise<DeliveryQueues> {
  const sqs = sqsFor(moto);
  const deadLetter = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetter.QueueUrl, AttributeNames: ['QueueArn'] }));
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: options.maxReceiveCount ?? 5 }),
      },
    }),
  );
  return { sqs, url: queue.QueueUrl!, deadLetterUrl: deadLetter.QueueUrl! };
}

/** Sends deliveries as the door would, ten to a batch. */
export async function sendDeliveries(queues: DeliveryQueues, deliveries: readonly VerifiedDelivery[]): Promise<void> {
  for (let start = 0; start < deliveries.length; start += 10) {
    const entries = deliveries
      .slice(start, start + 10)
      .map((delivery, index) => ({ Id: `m${index}`, MessageBody: encodeDelivery(delivery) }));
    const { Failed } = await queues.sqs.send(new SendMessageBatchCommand({ QueueUrl: queues.url, Entries: entries }));
    if (Failed?.length) throw new Error(`SendMessageBatch failed for ${Failed.length} messages`);
  }
}

/** Messages on a queue, visible or in flight. */
export async function messagesOn(sqs: SQSClient, url: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Takes what is visible on a queue now (up to ten), leaving it in flight. */
export async function receiveNow(sqs: SQSClient, url: string): Promise<Message[]> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
  );
  return Messages ?? [];
}
