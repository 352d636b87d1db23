import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';

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
  ec2: EC2Client;
  ecs: ECSClient;
  ssm: SSMClient;
}

export function createAwsClients(): AwsClients {
  return {
    autoScaling: new AutoScalingClient({ ...AWS_RETRY }),
    ec2: new EC2Client({ ...AWS_RETRY }),
    ecs: new ECSClient({ ...AWS_RETRY }),
    ssm: new SSMClient({ ...AWS_RETRY }),
  };
}
