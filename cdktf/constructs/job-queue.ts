import { Construct } from 'constructs';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue/index.js';

export interface JobQueueProps {
  queueName: string;
  /** How long a received message stays hidden from other consumers: more than a consumer takes on it. */
  visibilityTimeoutSeconds: number;
  /** Receives before a message goes to the dead-letter queue, where an alarm reports it. */
  maxReceiveCount: number;
  tags: Record<string, string>;
}

const FOUR_DAYS = 4 * 86_400;
const FOURTEEN_DAYS = 14 * 86_400;

/**
 * The job-event queue between the webhook front door and the workers, and its dead-letter queue: a
 * message that fails `maxReceiveCount` times is kept there for 14 days rather than lost. Both are
 * encrypted with SQS-managed keys, which need no KMS permission.
 */
export class JobQueue extends Construct {
  readonly queue: SqsQueue;
  readonly deadLetters: SqsQueue;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    this.deadLetters = new SqsQueue(this, 'dead-letters', {
      name: `${props.queueName}-dlq`,
      messageRetentionSeconds: FOURTEEN_DAYS,
      sqsManagedSseEnabled: true,
      tags: props.tags,
    });
    this.queue = new SqsQueue(this, 'queue', {
      name: props.queueName,
      visibilityTimeoutSeconds: props.visibilityTimeoutSeconds,
      messageRetentionSeconds: FOUR_DAYS,
      // Long polling: a consumer's empty receive waits up to 20 s instead of returning (and costing) at once.
      receiveWaitTimeSeconds: 20,
      sqsManagedSseEnabled: true,
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: this.deadLetters.arn, maxReceiveCount: props.maxReceiveCount }),
      tags: props.tags,
    });
  }
}
