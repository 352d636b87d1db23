import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { recordOperation } from './errors.js';

/**
 * One client per service, reused for the life of the process. Region, credentials and endpoint come
 * from the SDK's standard chain (AWS_REGION, AWS_ENDPOINT_URL, ...), so the same code runs against
 * AWS and against an emulator.
 *
 * Adaptive retry: a burst of jobs turns into a burst of RunTask/PutParameter calls, and AWS throttles
 * those per account; adaptive mode backs off on throttling and 5xx and also slows the client's own
 * send rate, instead of hammering with the standard mode's fixed attempts.
 */
export const AWS_RETRY = { retryMode: 'adaptive', maxAttempts: 6 } as const;

export interface AwsClients {
  autoScaling: AutoScalingClient;
  dynamodb: DynamoDBClient;
  ec2: EC2Client;
  ecs: ECSClient;
  sqs: SQSClient;
  ssm: SSMClient;
}

/** Settings over the standard chain's, for tests that point the clients at an emulator. */
export interface AwsClientSettings {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts?: number;
}

export function createAwsClients(settings: AwsClientSettings = {}): AwsClients {
  const config = { ...AWS_RETRY, ...settings };
  return {
    autoScaling: nameFailedOperations(new AutoScalingClient(config), 'autoscaling'),
    dynamodb: nameFailedOperations(new DynamoDBClient(config), 'dynamodb'),
    ec2: nameFailedOperations(new EC2Client(config), 'ec2'),
    ecs: nameFailedOperations(new ECSClient(config), 'ecs'),
    sqs: nameFailedOperations(new SQSClient(config), 'sqs'),
    ssm: nameFailedOperations(new SSMClient(config), 'ssm'),
  };
}

type Handler = (args: unknown) => Promise<unknown>;
interface InitializeStack {
  add(middleware: (next: Handler, context: { commandName?: string }) => Handler, options: { step: 'initialize'; name: string }): void;
}

/**
 * An SDK error says what went wrong but not in which call: this names the call on every error a
 * client throws, as its IAM action (`ecs:RunTask`, `ssm:PutParameter`), for errorFields to log. The
 * initialize step wraps the SDK's retries, so it sees only the error of the last attempt.
 */
export function nameFailedOperations<Client extends { middlewareStack: object }>(client: Client, service: string): Client {
  (client.middlewareStack as InitializeStack).add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        recordOperation(error, `${service}:${(context.commandName ?? 'unknown').replace(/Command$/, '')}`);
        throw error;
      }
    },
    { step: 'initialize', name: 'fleetbotNameFailedOperations' },
  );
  return client;
}
