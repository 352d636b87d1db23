import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DeliveryTooLarge, type DeliveryQueue, type VerifiedDelivery } from '../deliveries.js';
import { encodeDelivery, MAX_MESSAGE_BYTES } from './message.js';

/** Verified deliveries onto an SQS queue (FLEETBOT_QUEUE_URL), one message each. */
export class SqsDeliveryQueue implements DeliveryQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {}

  async send(delivery: VerifiedDelivery): Promise<void> {
    const body = encodeDelivery(delivery);
    const bytes = Buffer.byteLength(body);
    if (bytes > this.maxBytes) throw new DeliveryTooLarge(bytes, this.maxBytes);
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }
}
