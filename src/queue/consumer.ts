import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from 'probot';
import type { VerifiedDelivery } from '../deliveries.js';
import { errorFields } from '../errors.js';
import { decodeDelivery } from './message.js';

export interface QueueConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** The app's handlers for a delivery (Fleetbot.replay); a throw leaves the message to be delivered again. */
  handle(delivery: VerifiedDelivery): Promise<void>;
  log: Logger;
  /** How long a received message stays hidden from other consumers; renewed every half of it while its work runs. */
  visibilityTimeoutSeconds?: number;
  /** Messages handled at once. */
  concurrency?: number;
  /** How long one receive waits for messages (long polling; SQS allows up to 20 s). */
  waitTimeSeconds?: number;
}

// SQS gives at most 10 messages per receive.
const RECEIVE_BATCH = 10;
const RECEIVE_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/**
 * Consumes the delivery queue: long polls for batches, handles up to `concurrency` messages at once, keeps
 * each hidden while its work runs, deletes it when handled. A message whose handling fails is left alone:
 * it comes back after its visibility timeout, and after the queue's maxReceiveCount its redrive policy
 * moves it to the dead-letter queue. Handling twice is harmless: the store admits a job once, and
 * IssueOps handles a delivery id once.
 */
export class QueueConsumer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly visibilityTimeoutSeconds: number;
  private readonly concurrency: number;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: QueueConsumerOptions) {
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 60;
    this.concurrency = options.concurrency ?? 20;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Receives no more, and waits for the messages in hand: each is deleted when handled or left to come back. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      if (this.inFlight.size >= this.concurrency) {
        await Promise.race(this.inFlight);
        continue;
      }
      try {
        const messages = await this.receive(Math.min(RECEIVE_BATCH, this.concurrency - this.inFlight.size));
        failures = 0;
        for (const message of messages) this.track(this.process(message));
      } catch (error) {
        if (this.abort.signal.aborted) return;
        const delayMs = RECEIVE_RETRY_MS[Math.min(failures++, RECEIVE_RETRY_MS.length - 1)]!;
        this.options.log.error({ err: errorFields(error), retryInMs: delayMs }, 'could not receive from the delivery queue');
        await sleep(delayMs, undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
  }

  private async receive(max: number): Promise<Message[]> {
    const { Messages } = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: this.options.waitTimeSeconds ?? 20,
        VisibilityTimeout: this.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      { abortSignal: this.abort.signal },
    );
    return Messages ?? [];
  }

  private track(work: Promise<void>): void {
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async process(message: Message): Promise<void> {
    const { sqs, queueUrl, log } = this.options;
    const fields = { messageId: message.MessageId, receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1) };
    const heartbeat = setInterval(() => void this.extend(message, fields), (this.visibilityTimeoutSeconds * 1000) / 2);
    try {
      await this.options.handle(decodeDelivery(message.Body ?? ''));
    } catch (error) {
      log.warn(
        { ...fields, err: errorFields(error) },
        'a queued delivery failed; it comes back after its visibility timeout (after maxReceiveCount receives, to the dead-letter queue)',
      );
      return;
    } finally {
      clearInterval(heartbeat);
    }
    try {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    } catch (error) {
      log.warn({ ...fields, err: errorFields(error) }, 'a queued delivery was handled but not deleted; it comes back, harmlessly');
    }
  }

  private async extend(message: Message, fields: object): Promise<void> {
    try {
      await this.options.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.options.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: this.visibilityTimeoutSeconds,
        }),
      );
    } catch (error) {
      // The message may come back to another consumer while this one works: handling it twice is harmless.
      this.options.log.warn({ ...fields, err: errorFields(error) }, "could not extend a queued delivery's visibility");
    }
  }
}
