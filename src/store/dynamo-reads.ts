import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { JobKey, JobRecord } from './types.js';
import {
  backlogPartition,
  counterKey,
  INDEX,
  itemToJob,
  itemToRunner,
  jobKey,
  originItem,
  originPlace,
  runnerKey,
  timeKey,
  type BacklogEntry,
  type FleetCounter,
  type JobItem,
  type Key,
  type RunnerItem,
} from './dynamo-items.js';
import { newCounterItem } from './dynamo-transaction.js';

/**
 * The reads of the DynamoDB store, and the two writes no transaction needs (a fleet's first counter, origins).
 * Items by key are read strongly consistent, and so is a backlog (it is
 * in the table); the indexes (active and warm runners, jobs in flight, fleets, origins) are eventually
 * consistent, so what is found through them is read again by key before a transaction acts on it.
 */
export class DynamoReads {
  readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly table: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async item(key: Key): Promise<Record<string, unknown> | undefined> {
    return (await this.documents.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }))).Item;
  }

  async job(ci: string, jobId: string): Promise<JobItem | undefined> {
    const item = await this.item(jobKey(ci, jobId));
    return item && itemToJob(item);
  }

  async runner(name: string): Promise<RunnerItem | undefined> {
    const item = await this.item(runnerKey(name));
    return item && itemToRunner(item);
  }

  /** A fleet's counter, written with zero counts the first time a fleet is seen (a transaction's conditions need it). */
  async counter(fleet: string): Promise<FleetCounter> {
    const item = await this.item(counterKey(fleet));
    if (item) return item as unknown as FleetCounter;
    try {
      await this.documents.send(
        new PutCommand({ TableName: this.table, Item: newCounterItem(fleet), ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      return (await this.item(counterKey(fleet))) as unknown as FleetCounter;
    }
    return { fleet, active: 0, waiting: 0, checked: 0 };
  }

  /** Remembers where the job came from (see originItem), unless a later job from there is already remembered. */
  async recordOrigin(job: JobRecord, retentionMs: number): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: originItem(job, retentionMs),
          ConditionExpression: 'attribute_not_exists(pk) OR receivedAt <= :receivedAt',
          ExpressionAttributeValues: { ':receivedAt': job.receivedAt },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }

  /** The first entry of the fleet's backlog (arrival order) not in `passOver`. */
  async firstEntry(fleet: string, passOver: readonly JobKey[]): Promise<BacklogEntry | undefined> {
    const skipped = new Set(passOver.map((key) => `${key.ci}#${key.jobId}`));
    for await (const item of this.pages(this.backlogQuery(fleet, skipped.size + 10))) {
      const entry = item as unknown as BacklogEntry;
      if (!skipped.has(`${entry.ci}#${entry.jobId}`)) return entry;
    }
    return undefined;
  }

  async backlog(fleet: string): Promise<BacklogEntry[]> {
    return (await this.all(this.backlogQuery(fleet))) as unknown as BacklogEntry[];
  }

  private backlogQuery(fleet: string, limit?: number): QueryCommandInput {
    return {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': backlogPartition(fleet) },
      ConsistentRead: true,
      Limit: limit,
    };
  }

  /** Items of one index partition, in sort key order, from `from` on. */
  async indexed(index: { name: string; partition: string }, from?: string): Promise<Record<string, unknown>[]> {
    return this.all(this.indexQuery(index, from));
  }

  /**
   * Items of one index partition, newest (greatest sort key) first, from `from` on, that `keep` keeps, until
   * `limit` are kept: read a page at a time, so a listing reads no further than it needs.
   */
  async newestIndexed(
    index: { name: string; partition: string },
    from: string | undefined,
    limit: number,
    keep: (item: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>[]> {
    const kept: Record<string, unknown>[] = [];
    if (limit <= 0) return kept;
    for await (const item of this.pages({ ...this.indexQuery(index, from), ScanIndexForward: false, Limit: Math.min(limit * 2, 500) })) {
      if (!keep(item)) continue;
      kept.push(item);
      if (kept.length >= limit) break;
    }
    return kept;
  }

  private indexQuery(index: { name: string; partition: string }, from: string | undefined): QueryCommandInput {
    const [pk, sk] = [`${index.name}pk`, `${index.name}sk`];
    return {
      TableName: this.table,
      IndexName: index.name,
      KeyConditionExpression: from === undefined ? `${pk} = :pk` : `${pk} = :pk AND ${sk} >= :from`,
      ExpressionAttributeValues: { ':pk': index.partition, ...(from === undefined ? {} : { ':from': from }) },
    };
  }

  async activeRunners(): Promise<RunnerItem[]> {
    const indexed = (await this.indexed(INDEX.activeRunners)).map(itemToRunner);
    return indexed.filter((runner) => runner.status !== 'released');
  }

  /**
   * One job for each place jobs came from (CI system and origin) since `since`, or behind an active runner:
   * the latest of each, by arrival.
   */
  async jobOrigins(since: number): Promise<JobItem[]> {
    const recent = await this.indexed(INDEX.origins, timeKey(since));
    const keys = [
      ...recent.map((item) => ({ ci: item.ci as string, jobId: item.jobId as string })),
      ...(await this.activeRunners()).map((runner) => ({ ci: runner.ci, jobId: runner.jobId })),
    ];
    const latest = new Map<string, JobItem>();
    for (const key of keys) {
      const job = await this.job(key.ci, key.jobId);
      if (!job) continue;
      const place = originPlace(job);
      const known = latest.get(place);
      if (!known || known.order < job.order) latest.set(place, job);
    }
    return [...latest.values()];
  }

  async counters(): Promise<FleetCounter[]> {
    return (await this.indexed(INDEX.fleets)) as unknown as FleetCounter[];
  }

  private async all(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for await (const item of this.pages(input)) items.push(item);
    return items;
  }

  private async *pages(input: QueryCommandInput): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }
}
