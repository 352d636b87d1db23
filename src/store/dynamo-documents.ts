import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Plain JavaScript values in and out; absent optional fields are left out of items rather than refused. */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The write's result, or undefined when DynamoDB refused it because its condition did not hold. */
export async function unlessConditionFails<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/** Epoch milliseconds as a sort key that orders as the numbers do (15 digits lasts until the year 33658). */
export function sortableTime(ms: number): string {
  return String(ms).padStart(15, '0');
}

/** Epoch seconds for the table's TTL attribute, `afterMs` after `ms`. */
export function expiresAt(ms: number, afterMs: number): number {
  return Math.ceil((ms + afterMs) / 1000);
}
