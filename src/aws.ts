import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AWS_RETRY, nameFailedOperations } from './aws-calls.js';

/**
 * One client per service, reused for the life of the process. Region, credentials and endpoint come
 * from the SDK's standard chain (AWS_REGION, AWS_ENDPOINT_URL, ...), so the same code runs against
 * AWS and against an emulator. Their retry and error naming: aws-calls.ts.
 */
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
