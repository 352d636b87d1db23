import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  paginateQuery,
  PutCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { sleep } from '../retry.js';
import { documentClient, expiresAt, sortableTime, unlessConditionFails } from './dynamo-documents.js';
import type { DeliveryLog } from './types.js';

const WATERMARK_KEY = { pk: 'VALUE#github.deliveries.watermark', sk: 'VALUE' };
/** gsi1 lists every recorded GUID by when it was recorded, for pruneBefore. */
const DELIVERIES_BY_TIME = 'DELIVERIES';
/**
 * GitHub keeps deliveries 3 days, and each recovery pass prunes what is older. The TTL deletes a GUID a day
 * after that too, for when recovery is off (FLEETBOT_DELIVERY_RECOVERY_SECONDS=0) and nothing prunes.
 */
const GUID_KEPT_MS = 4 * 86_400_000;
// BatchWriteItem's limit.
const DELETES_PER_BATCH = 25;
const UNPROCESSED_PAUSE_MS = 100;

type Use = 'recovered' | 'handled';
const guidKey = (guid: string, use: Use) => ({ pk: `DELIVERY#${guid}`, sk: use });

/** Delivery GUIDs and the recovery watermark in the store's DynamoDB table, with SqliteDeliveryLog's semantics. */
export class DynamoDeliveryLog implements DeliveryLog {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.documents = documentClient(client);
  }

  async recoveryWatermark(): Promise<number | undefined> {
    const { Item } = await this.documents.send(new GetCommand({ TableName: this.tableName, Key: WATERMARK_KEY, ConsistentRead: true }));
    return Item?.value as number | undefined;
  }

  async setRecoveryWatermark(at: number): Promise<void> {
    await this.documents.send(new PutCommand({ TableName: this.tableName, Item: { ...WATERMARK_KEY, value: at } }));
  }

  async wasRecovered(guid: string): Promise<boolean> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: guidKey(guid, 'recovered'), ConsistentRead: true }),
    );
    return Item !== undefined;
  }

  async markRecovered(guid: string, now: number): Promise<void> {
    await this.record(guid, 'recovered', now);
  }

  /** One conditional write: of replicas sent the same delivery, exactly one handles it. */
  async claimHandling(guid: string, now: number): Promise<boolean> {
    return this.record(guid, 'handled', now);
  }

  async releaseHandling(guid: string): Promise<void> {
    await this.documents.send(new DeleteCommand({ TableName: this.tableName, Key: guidKey(guid, 'handled') }));
  }

  /** Deletes the GUIDs recorded before `at`, found by time on gsi1 (the TTL only backs this up). */
  async pruneBefore(at: number): Promise<void> {
    const pages = paginateQuery(
      { client: this.documents },
      {
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :deliveries AND gsi1sk < :before',
        ExpressionAttributeValues: { ':deliveries': DELIVERIES_BY_TIME, ':before': sortableTime(at) },
        ProjectionExpression: 'pk, sk',
      },
    );
    for await (const page of pages) {
      const keys = (page.Items ?? []).map((item) => ({ pk: item.pk as string, sk: item.sk as string }));
      for (let start = 0; start < keys.length; start += DELETES_PER_BATCH)
        await this.deleteAll(keys.slice(start, start + DELETES_PER_BATCH));
    }
  }

  /** True when the GUID had no record of this use: it is written now. A record kept is never moved. */
  private async record(guid: string, use: Use, now: number): Promise<boolean> {
    const written = await unlessConditionFails(
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...guidKey(guid, use),
            at: now,
            gsi1pk: DELIVERIES_BY_TIME,
            gsi1sk: `${sortableTime(now)}#${guid}#${use}`,
            expiresAt: expiresAt(now, GUID_KEPT_MS),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    return written !== undefined;
  }

  /** Deletes up to 25 items, sending again, after a pause, what DynamoDB left unprocessed (throttling). */
  private async deleteAll(keys: { pk: string; sk: string }[]): Promise<void> {
    let requests = keys.map((key) => ({ DeleteRequest: { Key: key } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 0) await sleep(Math.min(UNPROCESSED_PAUSE_MS * attempt, 5_000));
      const { UnprocessedItems } = await this.documents.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
      requests = (UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
    }
  }
}
