import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { INDEX, itemToJob, itemToRunner, publicJob, publicRunner, timeKey, type RunnerItem } from './dynamo-items.js';
import type { DynamoReads } from './dynamo-reads.js';
import type { FleetCounts, JobFilter, JobRecord, JobStatus, RunnerFilter, RunnerRecord, TaskPass } from './types.js';

const DRAINED = 'DRAINED';
const TASK_PASSES = 'TASKPASS';

const conditionFailed = (error: unknown): boolean => (error as Error).name === 'ConditionalCheckFailedException';

/**
 * What the operator's view reads and sets in the DynamoDB store, none of it by Scan: drained fleets and task
 * passes are one partition each of the table (read strongly consistent), jobs are listed from the `JOBS`
 * partition of gsi2 (every job, by arrival), runners from gsi1's `ACTIVE` and `RELEASED` partitions, and
 * counts from the fleet counters and the jobs in flight. The index reads are eventually consistent: a
 * listing may lag a write by a moment, which a view refreshed every few seconds shows on its next refresh.
 * Jobs and runners last written before fleetbot kept these index keys are listed once they are written again.
 * Every job write also writes the one `JOBS` index partition (as every admission writes `ORIGINS`): an index
 * partition takes about 1,000 writes a second, some 200 jobs a second at the five writes a job makes.
 */
export class DynamoOperatorReads {
  constructor(protected readonly reads: DynamoReads) {}

  async setFleetDrained(fleet: string, drained: boolean, now: number): Promise<boolean> {
    const { documents, table } = this.reads;
    const key = { pk: DRAINED, sk: fleet };
    if (!drained) {
      const deleted = await documents.send(new DeleteCommand({ TableName: table, Key: key, ReturnValues: 'ALL_OLD' }));
      return deleted.Attributes !== undefined;
    }
    try {
      const item = { ...key, fleet, drainedAt: now };
      await documents.send(new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async drainedFleets(): Promise<Set<string>> {
    return new Set((await this.partition(DRAINED)).map((item) => item.fleet as string));
  }

  async recordTaskPass(pass: TaskPass): Promise<void> {
    try {
      await this.reads.documents.send(
        new PutCommand({
          TableName: this.reads.table,
          Item: { pk: TASK_PASSES, sk: pass.task, ...pass },
          // A pass that started before the one kept (a slow replica's, reported late) does not replace it.
          ConditionExpression: 'attribute_not_exists(pk) OR startedAt <= :startedAt',
          ExpressionAttributeValues: { ':startedAt': pass.startedAt },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  async taskPasses(): Promise<TaskPass[]> {
    return (await this.partition(TASK_PASSES)).map(({ task, holder, startedAt, finishedAt, ok, summary }) => ({
      ...{ task: task as string, holder: holder as string, startedAt: startedAt as number, finishedAt: finishedAt as number },
      ...{ ok: ok as boolean, summary: summary as string },
    }));
  }

  async listJobs(filter: JobFilter): Promise<JobRecord[]> {
    const { fleet, ci, status, since, limit } = filter;
    const matches = (item: Record<string, unknown>): boolean =>
      (fleet === undefined || item.fleet === fleet) &&
      (ci === undefined || item.ci === ci) &&
      (status === undefined || item.status === status);
    const items = await this.reads.newestIndexed(INDEX.jobs, since === undefined ? undefined : timeKey(since), limit, matches);
    return items.map((item) => publicJob(itemToJob(item)));
  }

  async listRunners(filter: RunnerFilter): Promise<RunnerRecord[]> {
    const { fleet, active, limit } = filter;
    // The index may still list a runner under its former partition for a moment: its status decides.
    const listed = async (partition: typeof INDEX.activeRunners | typeof INDEX.releasedRunners, released: boolean) =>
      (
        await this.reads.newestIndexed(
          partition,
          undefined,
          limit,
          (item) => (fleet === undefined || item.fleet === fleet) && (item.status === 'released') === released,
        )
      ).map(itemToRunner);
    const runners: RunnerItem[] = [
      ...(active !== false ? await listed(INDEX.activeRunners, false) : []),
      ...(active !== true ? await listed(INDEX.releasedRunners, true) : []),
    ];
    runners.sort((a, b) => b.createdAt - a.createdAt || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    return runners.slice(0, limit).map(publicRunner);
  }

  async countJobsByStatus(): Promise<Map<string, Map<JobStatus, number>>> {
    const counts = new Map<string, Map<JobStatus, number>>();
    const add = (fleet: string, status: JobStatus, n: number) => {
      let byStatus = counts.get(fleet);
      if (!byStatus) counts.set(fleet, (byStatus = new Map()));
      byStatus.set(status, (byStatus.get(status) ?? 0) + n);
    };
    for (const counter of await this.reads.counters()) if (counter.waiting > 0) add(counter.fleet, 'waiting', counter.waiting);
    for (const job of (await this.reads.indexed(INDEX.inFlightJobs)).map(itemToJob)) {
      if (job.status === 'launching' || job.status === 'launched') add(job.fleet ?? '', job.status, 1);
    }
    return counts;
  }

  async fleetCounts(): Promise<Map<string, FleetCounts>> {
    const counts = new Map<string, FleetCounts>();
    for (const counter of await this.reads.counters()) {
      if (counter.active > 0 || counter.waiting > 0) counts.set(counter.fleet, { active: counter.active, waiting: counter.waiting });
    }
    return counts;
  }

  /** A partition of the table itself, strongly consistent. */
  private async partition(pk: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.reads.documents.send(
        new QueryCommand({
          TableName: this.reads.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
