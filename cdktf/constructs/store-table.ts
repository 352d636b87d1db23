import { Construct } from 'constructs';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table/index.js';
import { STORE_TABLE_KEYS } from '../../src/store/dynamo-table.js';

export interface StoreTableProps {
  tableName: string;
  tags: Record<string, string>;
}

/**
 * The DynamoDB store's one table, with the keys the store writes (src/store/dynamo-table.ts): on-demand
 * capacity, so an idle control plane pays for storage only; TTL on finished records; point-in-time
 * recovery, the scale-out counterpart of backing up the SQLite file.
 */
export class StoreTable extends Construct {
  readonly table: DynamodbTable;

  constructor(scope: Construct, id: string, props: StoreTableProps) {
    super(scope, id);
    const { partition, sort, indexes, ttl } = STORE_TABLE_KEYS;
    const keyNames = [partition, sort, ...indexes.flatMap((index) => [index.partition, index.sort])];
    this.table = new DynamodbTable(this, 'table', {
      name: props.tableName,
      billingMode: 'PAY_PER_REQUEST',
      hashKey: partition,
      rangeKey: sort,
      attribute: keyNames.map((name) => ({ name, type: 'S' })),
      globalSecondaryIndex: indexes.map((index) => ({
        name: index.name,
        hashKey: index.partition,
        rangeKey: index.sort,
        projectionType: 'ALL',
      })),
      ttl: { attributeName: ttl, enabled: true },
      pointInTimeRecovery: { enabled: true },
      tags: props.tags,
    });
  }
}
