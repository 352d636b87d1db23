import { TransactWriteCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  backlogEntryOf,
  backlogKey,
  counterKey,
  INDEX,
  jobToItem,
  runnerToItem,
  type BacklogEntry,
  type JobItem,
  type Key,
  type RunnerItem,
} from './dynamo-items.js';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** What a transaction requires of a fleet's counter when it commits (the counter exists: see DynamoStore.counter). */
export type CounterCondition =
  | { kind: 'room'; maxRunners: number } // under the limit: a runner may be claimed
  | { kind: 'full'; maxRunners: number }
  | { kind: 'noCheckedBacklog' } // no checked job waits: a newcomer may go first
  | { kind: 'checkedBacklog' };

const CONDITIONS: Record<CounterCondition['kind'], string> = {
  room: 'active < :max',
  full: 'active >= :max',
  noCheckedBacklog: 'checked = :zero',
  checkedBacklog: 'checked > :zero',
};

interface CounterChange {
  active: number;
  waiting: number;
  checked: number;
  conditions: CounterCondition[];
}

/**
 * One TransactWriteItems: the jobs and runners a store operation changes, each written whole on the
 * condition that nobody wrote it since it was read (its version), with the backlog entries and fleet
 * counters that follow from their change of status. A job leaving `waiting` leaves its fleet's backlog and
 * count, a runner released frees its slot: derived here, once, so no operation can forget one. A fleet's
 * counter changes are merged into one update (a transaction may touch an item only once).
 */
export class StoreTransaction {
  private readonly items = new Map<string, TransactItem>();
  private readonly counters = new Map<string, CounterChange>();

  constructor(
    private readonly table: string,
    private readonly retentionMs: number,
  ) {}

  /** Writes `after` over `before` (undefined: a new job, which must not exist yet). Returns what was written. */
  putJob(before: JobItem | undefined, after: Omit<JobItem, 'version'>): JobItem {
    const written: JobItem = { ...after, version: (before?.version ?? 0) + 1 };
    this.add(this.versionedPut(jobToItem(written, this.retentionMs), before?.version));
    const was = before && backlogEntryOf(before);
    const is = backlogEntryOf(written);
    if (sameEntry(was, is)) return written;
    if (was) {
      this.add({ Delete: { TableName: this.table, Key: backlogKey(was.fleet, was.order), ConditionExpression: 'attribute_exists(pk)' } });
      this.count(was.fleet, { waiting: -1, checked: was.unchecked ? 0 : -1 });
    }
    if (is) {
      this.add({ Put: { TableName: this.table, Item: { ...backlogKey(is.fleet, is.order), ...is } } });
      this.count(is.fleet, { waiting: 1, checked: is.unchecked ? 0 : 1 });
    }
    return written;
  }

  /**
   * Writes a runner; a new active runner takes a slot of its fleet, a released one frees its slot (and
   * its release time is recorded, here once for every operation that releases).
   */
  putRunner(before: RunnerItem | undefined, after: Omit<RunnerItem, 'version'>): RunnerItem {
    const wasActive = before !== undefined && before.status !== 'released';
    const isActive = after.status !== 'released';
    const releasedAt = wasActive && !isActive ? after.updatedAt : after.releasedAt;
    const written: RunnerItem = { ...after, releasedAt, version: (before?.version ?? 0) + 1 };
    this.add(this.versionedPut(runnerToItem(written, this.retentionMs), before?.version));
    if (wasActive && !isActive) this.count(before.fleet, { active: -1 });
    if (!wasActive && isActive) this.count(written.fleet, { active: 1 });
    return written;
  }

  require(fleet: string, condition: CounterCondition): void {
    this.counter(fleet).conditions.push(condition);
  }

  async commit(documents: DynamoDBDocumentClient): Promise<void> {
    const counterItems = [...this.counters].flatMap(([fleet, change]) => this.counterItem(fleet, change) ?? []);
    const TransactItems = [...this.items.values(), ...counterItems];
    if (TransactItems.length === 0) return;
    await documents.send(new TransactWriteCommand({ TransactItems }));
  }

  private versionedPut(item: Record<string, unknown>, version: number | undefined): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: item,
        ...(version === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': version } }),
      },
    };
  }

  private add(item: TransactItem): void {
    const key = (item.Put?.Item ?? item.Delete?.Key) as Key;
    this.items.set(`${key.pk}\u0000${key.sk}`, item);
  }

  private counter(fleet: string): CounterChange {
    let change = this.counters.get(fleet);
    if (!change) this.counters.set(fleet, (change = { active: 0, waiting: 0, checked: 0, conditions: [] }));
    return change;
  }

  private count(fleet: string, delta: Partial<Pick<CounterChange, 'active' | 'waiting' | 'checked'>>): void {
    const change = this.counter(fleet);
    change.active += delta.active ?? 0;
    change.waiting += delta.waiting ?? 0;
    change.checked += delta.checked ?? 0;
  }

  /** The counter's update, or a check alone when its counts do not change; nothing when neither is needed. */
  private counterItem(fleet: string, change: CounterChange): TransactItem | undefined {
    const values: Record<string, unknown> = {};
    const conditions = change.conditions.map((condition) => {
      if ('maxRunners' in condition) values[':max'] = condition.maxRunners;
      else values[':zero'] = 0;
      return CONDITIONS[condition.kind];
    });
    const target = { TableName: this.table, Key: counterKey(fleet) };
    const condition = conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {};

    if (change.active === 0 && change.waiting === 0 && change.checked === 0) {
      return conditions.length > 0
        ? { ConditionCheck: { ...target, ConditionExpression: conditions.join(' AND '), ExpressionAttributeValues: values } }
        : undefined;
    }
    // Every count is added (zeros too) and the listing set, so that a counter this creates is complete.
    return {
      Update: {
        ...target,
        ...condition,
        UpdateExpression: 'ADD active :active, waiting :waiting, checked :checked SET fleet = :fleet, gsi2pk = :fleets, gsi2sk = :fleet',
        ExpressionAttributeValues: {
          ...values,
          ':active': change.active,
          ':waiting': change.waiting,
          ':checked': change.checked,
          ':fleet': fleet,
          ':fleets': INDEX.fleets.partition,
        },
      },
    };
  }
}

function sameEntry(a: BacklogEntry | undefined, b: BacklogEntry | undefined): boolean {
  return a?.fleet === b?.fleet && a?.order === b?.order && a?.unchecked === b?.unchecked;
}

/** A fleet's counter as first written: every count zero, listed in the fleets index. */
export function newCounterItem(fleet: string): Record<string, unknown> {
  return { ...counterKey(fleet), fleet, active: 0, waiting: 0, checked: 0, gsi2pk: INDEX.fleets.partition, gsi2sk: fleet };
}

/** What an operation read changed before it could act on it (a backlog entry's job was claimed meanwhile). */
export class LostRace extends Error {
  override name = 'LostRace';
}

// Why a transaction is cancelled when another writer got there first; any other reason (a validation
// error, an item too large) is a failure to report, not a race to run again.
const RACE_REASONS = new Set(['None', 'ConditionalCheckFailed', 'TransactionConflict']);

/** A commit that lost a race: the operation reads again and decides again. */
export function lostRace(error: unknown): boolean {
  const { name, CancellationReasons } = error as { name?: string; CancellationReasons?: { Code?: string }[] };
  if (name === 'TransactionCanceledException')
    return (CancellationReasons ?? []).every((reason) => RACE_REASONS.has(reason.Code ?? 'None'));
  return name === 'TransactionConflictException' || name === 'ConditionalCheckFailedException' || name === 'LostRace';
}

export interface RetryPolicy {
  attempts: number;
  /** The first retry waits up to this long (full jitter), doubling each time up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const STORE_RETRY: RetryPolicy = { attempts: 40, baseDelayMs: 5, maxDelayMs: 250 };

/**
 * Runs an operation (read, decide, commit) again while its commit loses a race: another replica or
 * request changed what it read. Each retry reads afresh, so its decision holds for the state it commits
 * against. Waits are jittered, so that writers who collided do not collide again in step.
 */
export async function withRetries<T>(operation: string, policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!lostRace(error)) throw error;
      if (tries >= policy.attempts)
        throw new Error(`DynamoDB store: ${operation} lost ${tries} races in a row; giving up`, { cause: error });
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (tries - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}
