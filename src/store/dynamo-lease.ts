import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient, unlessConditionFails } from './dynamo-documents.js';
import type { Lease } from './types.js';

/** The item of a lease: never deleted (no `expiresAt`), so its token keeps counting up for good. */
function leaseKey(name: string) {
  return { pk: `LEASE#${name}`, sk: 'LEASE' };
}

/**
 * Leases in the store's table, by conditional writes. A renewal extends the holder's own unexpired lease
 * and keeps its token; failing that, a taking succeeds only if the lease is absent or expired, and adds
 * one to the token in the same write. Of two replicas racing for a lapsed lease, one condition holds.
 */
export class DynamoLease implements Lease {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.documents = documentClient(client);
  }

  async acquire(name: string, holder: string, ttlMs: number, now: number): Promise<number | undefined> {
    const values = { ':holder': holder, ':now': now, ':until': now + ttlMs };
    const renewed = await unlessConditionFails(
      this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: leaseKey(name),
          UpdateExpression: 'SET heldUntil = :until',
          ConditionExpression: 'holder = :holder AND heldUntil > :now',
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    if (renewed) return renewed.Attributes!.token as number;
    const taken = await unlessConditionFails(
      this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: leaseKey(name),
          UpdateExpression: 'SET holder = :holder, heldUntil = :until ADD #token :one',
          ConditionExpression: 'attribute_not_exists(pk) OR heldUntil <= :now',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ...values, ':one': 1 },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return taken?.Attributes!.token as number | undefined;
  }

  async release(name: string, holder: string, token: number): Promise<void> {
    await unlessConditionFails(
      this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: leaseKey(name),
          UpdateExpression: 'SET heldUntil = :zero',
          ConditionExpression: 'holder = :holder AND #token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':zero': 0, ':holder': holder, ':token': token },
        }),
      ),
    );
  }

  async holds(name: string, holder: string, token: number, now: number): Promise<boolean> {
    const { Item } = await this.documents.send(new GetCommand({ TableName: this.tableName, Key: leaseKey(name), ConsistentRead: true }));
    return Item !== undefined && Item.holder === holder && Item.token === token && (Item.heldUntil as number) > now;
  }
}
