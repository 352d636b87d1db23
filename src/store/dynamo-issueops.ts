import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  paginateQuery,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { fleetSpecSchema } from '../fleets/spec.js';
import { documentClient, expiresAt, sortableTime, unlessConditionFails } from './dynamo-documents.js';
import { requestRow, toRequest, type RequestRow } from './request-rows.js';
import type { FleetLock, FleetRequestRecord, IssueOpsStore, ProvisionedFleet } from './types.js';

/**
 * Items of the IssueOps state. A request's item collection (`REQUEST#repo#issue`) holds the request, its
 * changers and its work lock. gsi1 finds a request by pull request, and lists fleet locks and provisioned
 * fleets (each under one constant key: a handful of items); gsi2 lists the unfinished requests (`planning`,
 * `applying`) under one key and the others under another, each by last update. Index reads are eventually
 * consistent, as SQLite's are not: they serve the start-up recovery and the listings, never a decision that must see a write just made.
 */
const requestKey = (repo: string, issueNumber: number) => `REQUEST#${repo}#${issueNumber}`;
const REQUEST_SK = 'REQUEST';
const LOCK_SK = 'LOCK';
const CHANGER_SK = 'CHANGER#';
const FLEET_LOCKS = 'FLEETLOCKS';
const PROVISIONED = 'PROVISIONED';
const UNFINISHED = 'REQUESTS#UNFINISHED';
const FINISHED = 'REQUESTS#FINISHED';
const fleetLockKey = (fleet: string) => ({ pk: `FLEETLOCK#${fleet}`, sk: LOCK_SK });
const provisionedKey = (name: string) => ({ pk: `PROVISIONED#${name}`, sk: 'FLEET' });
// A request lock left by a replica that died is deleted by the TTL a day after it lapsed (it is free once lapsed).
const LAPSED_LOCK_KEPT_MS = 86_400_000;

interface LockItem {
  fleet: string;
  repo: string;
  issueNumber: number;
  acquiredAt: number;
}

function toLock(item: Record<string, unknown>): FleetLock {
  const { fleet, repo, issueNumber, acquiredAt } = item as unknown as LockItem;
  return { fleet, repo, issueNumber, acquiredAt };
}

/** IssueOps state in the store's DynamoDB table, with SqliteIssueOpsStore's semantics. */
export class DynamoIssueOpsStore implements IssueOpsStore {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.documents = documentClient(client);
  }

  async getRequest(repo: string, issueNumber: number): Promise<FleetRequestRecord | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: requestKey(repo, issueNumber), sk: REQUEST_SK }, ConsistentRead: true }),
    );
    return Item && toRequest(Item as unknown as RequestRow);
  }

  async getRequestByPull(repo: string, prNumber: number): Promise<FleetRequestRecord | undefined> {
    const [found] = await this.query({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pull',
      ExpressionAttributeValues: { ':pull': `REQUEST_PR#${repo}#${prNumber}` },
    });
    // The index may lag the table: the request as it is now.
    return found && this.getRequest(found.repo as string, found.issue_number as number);
  }

  async saveRequest(request: FleetRequestRecord): Promise<void> {
    const row = requestRow(request);
    const unfinished = request.status === 'planning' || request.status === 'applying';
    await this.documents.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: requestKey(request.repo, request.issueNumber),
          sk: REQUEST_SK,
          ...row,
          gsi1pk: request.prNumber === null ? undefined : `REQUEST_PR#${request.repo}#${request.prNumber}`,
          gsi1sk: request.prNumber === null ? undefined : REQUEST_SK,
          gsi2pk: unfinished ? UNFINISHED : FINISHED,
          gsi2sk: `${sortableTime(request.updatedAt)}#${request.repo}#${request.issueNumber}`,
        },
      }),
    );
  }

  async unfinishedRequests(): Promise<FleetRequestRecord[]> {
    const items = await this.query({
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :unfinished',
      ExpressionAttributeValues: { ':unfinished': UNFINISHED },
    });
    return items.map((item) => toRequest(item as unknown as RequestRow));
  }

  /** The newest of each gsi2 listing, merged; requests last saved before the finished ones were listed come once saved again. */
  async recentRequests(limit: number): Promise<FleetRequestRecord[]> {
    if (limit <= 0) return [];
    const newest = (partition: string) =>
      this.query(
        {
          IndexName: 'gsi2',
          KeyConditionExpression: 'gsi2pk = :partition',
          ExpressionAttributeValues: { ':partition': partition },
          ScanIndexForward: false,
          Limit: limit,
        },
        limit,
      );
    const items = [...(await newest(UNFINISHED)), ...(await newest(FINISHED))];
    items.sort((a, b) => ((a.gsi2sk as string) < (b.gsi2sk as string) ? 1 : -1));
    return items.slice(0, limit).map((item) => toRequest(item as unknown as RequestRow));
  }

  async acquireFleetLock(fleet: string, repo: string, issueNumber: number, now: number): Promise<FleetLock> {
    const lock = { fleet, repo, issueNumber, acquiredAt: now };
    for (;;) {
      const taken = await unlessConditionFails(
        this.documents.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...fleetLockKey(fleet), ...lock, gsi1pk: FLEET_LOCKS, gsi1sk: `${sortableTime(now)}#${fleet}` },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      if (taken) return lock;
      // The lock is another request's (or this one's, taken before): the holder as it stands, unless it
      // was released in between, when it is tried for again.
      const { Item } = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: fleetLockKey(fleet), ConsistentRead: true }),
      );
      if (Item) return toLock(Item);
    }
  }

  async releaseFleetLock(fleet: string, repo: string, issueNumber: number): Promise<void> {
    await unlessConditionFails(
      this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: fleetLockKey(fleet),
          ConditionExpression: 'repo = :repo AND issueNumber = :issue',
          ExpressionAttributeValues: { ':repo': repo, ':issue': issueNumber },
        }),
      ),
    );
  }

  async fleetLocks(): Promise<FleetLock[]> {
    const items = await this.query({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :locks',
      ExpressionAttributeValues: { ':locks': FLEET_LOCKS },
    });
    return items.map(toLock);
  }

  async provisionedFleets(): Promise<ProvisionedFleet[]> {
    const items = await this.query({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :provisioned',
      ExpressionAttributeValues: { ':provisioned': PROVISIONED },
    });
    return items.map((item) => ({
      name: item.name as string,
      requested: fleetSpecSchema.parse(JSON.parse(item.requested as string)),
      live: fleetSpecSchema.parse(JSON.parse(item.live as string)),
      status: item.status as ProvisionedFleet['status'],
      appliedSha: item.appliedSha as string,
      requestIssue: item.requestIssue as number,
      updatedAt: item.updatedAt as number,
    }));
  }

  /** A fleet keeps its place in the listing from its first apply on, as in SQLite (`gsi1sk` set once). */
  async putProvisionedFleet(fleet: ProvisionedFleet): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: provisionedKey(fleet.name),
        UpdateExpression:
          'SET #name = :name, requested = :requested, live = :live, #status = :status, appliedSha = :sha, ' +
          'requestIssue = :issue, updatedAt = :updated, gsi1pk = :provisioned, gsi1sk = if_not_exists(gsi1sk, :order)',
        ExpressionAttributeNames: { '#name': 'name', '#status': 'status' },
        ExpressionAttributeValues: {
          ':name': fleet.name,
          ':requested': JSON.stringify(fleet.requested),
          ':live': JSON.stringify(fleet.live),
          ':status': fleet.status,
          ':sha': fleet.appliedSha,
          ':issue': fleet.requestIssue,
          ':updated': fleet.updatedAt,
          ':provisioned': PROVISIONED,
          ':order': `${sortableTime(fleet.updatedAt)}#${fleet.name}`,
        },
      }),
    );
  }

  async deleteProvisionedFleet(name: string): Promise<void> {
    await this.documents.send(new DeleteCommand({ TableName: this.tableName, Key: provisionedKey(name) }));
  }

  /** One item per login, keyed case-insensitively as SQLite's NOCASE column is; the first spelling seen is kept. */
  async addRequestChanger(repo: string, issueNumber: number, login: string, now: number): Promise<void> {
    await unlessConditionFails(
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: requestKey(repo, issueNumber), sk: `${CHANGER_SK}${login.toLowerCase()}`, login, firstSeen: now },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async requestChangers(repo: string, issueNumber: number): Promise<string[]> {
    const items = await this.query({
      KeyConditionExpression: 'pk = :request AND begins_with(sk, :changer)',
      ExpressionAttributeValues: { ':request': requestKey(repo, issueNumber), ':changer': CHANGER_SK },
      ConsistentRead: true,
    });
    return items.sort((a, b) => (a.firstSeen as number) - (b.firstSeen as number)).map((item) => item.login as string);
  }

  async lockRequest(repo: string, issueNumber: number, holder: string, ttlMs: number, now: number): Promise<boolean> {
    const written = await unlessConditionFails(
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: requestKey(repo, issueNumber),
            sk: LOCK_SK,
            holder,
            lockedUntil: now + ttlMs,
            expiresAt: expiresAt(now + ttlMs, LAPSED_LOCK_KEPT_MS),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR holder = :holder OR lockedUntil <= :now',
          ExpressionAttributeValues: { ':holder': holder, ':now': now },
        }),
      ),
    );
    return written !== undefined;
  }

  async unlockRequest(repo: string, issueNumber: number, holder: string): Promise<void> {
    await unlessConditionFails(
      this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: requestKey(repo, issueNumber), sk: LOCK_SK },
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: { ':holder': holder },
        }),
      ),
    );
  }

  /** Every item the query finds, or its first `atMost`. */
  private async query(input: Omit<QueryCommandInput, 'TableName'>, atMost = Infinity): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for await (const page of paginateQuery({ client: this.documents }, { ...input, TableName: this.tableName })) {
      items.push(...(page.Items ?? []));
      if (items.length >= atMost) return items.slice(0, atMost);
    }
    return items;
  }
}
