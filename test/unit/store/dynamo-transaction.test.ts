import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { newJobItem, newRunnerItem, type JobItem } from '../../../src/store/dynamo-items.js';
import { LostRace, StoreTransaction, withRetries } from '../../../src/store/dynamo-transaction.js';

type Items = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Commits `transaction` into a stand-in client and returns what it would have sent. */
async function sent(transaction: StoreTransaction): Promise<Items | undefined> {
  let items: Items | undefined;
  const documents = { send: async (command: { input: TransactWriteCommandInput }) => void (items = command.input.TransactItems) };
  await transaction.commit(documents as unknown as DynamoDBDocumentClient);
  return items;
}

const waiting = (id: string, fleet = 'linux'): JobItem => ({
  ...newJobItem({ ci: 'github', jobId: id, labels: [], origin: {} }, fleet, 'waiting', 1, Number(id)),
  version: 3,
});
const race = () =>
  Object.assign(new Error('cancelled'), {
    name: 'TransactionCanceledException',
    CancellationReasons: [{ Code: 'ConditionalCheckFailed' }],
  });
const quick = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

describe('a store transaction', () => {
  it("derives the backlog entry and the fleet's counts from a job's change of status, merged into one counter update", async () => {
    const transaction = new StoreTransaction('t', 1000);
    const job = waiting('7');
    const claimed = transaction.putJob(job, { ...job, status: 'launching', runnerName: 'r7' });
    transaction.putRunner(undefined, newRunnerItem('r7', claimed, false, 2));
    transaction.require('linux', { kind: 'room', maxRunners: 4 });
    const items = (await sent(transaction))!;

    expect(items).toHaveLength(4);
    expect(items[0].Put).toMatchObject({
      Item: { pk: 'JOB#github#7', version: 4, gsi1pk: 'INFLIGHT' },
      ConditionExpression: 'version = :version',
    });
    expect(items[1].Delete).toMatchObject({ Key: { pk: 'BACKLOG#linux', sk: job.order } });
    expect(items[2].Put).toMatchObject({ Item: { pk: 'RUNNER#r7', gsi1pk: 'ACTIVE' }, ConditionExpression: 'attribute_not_exists(pk)' });
    expect(items[3].Update).toMatchObject({
      Key: { pk: 'FLEET#linux', sk: 'COUNTS' },
      ConditionExpression: 'active < :max',
      ExpressionAttributeValues: { ':max': 4, ':active': 1, ':waiting': -1, ':checked': -1 },
    });
  });

  it('checks a counter it does not change, and sends nothing when there is nothing to write', async () => {
    const check = new StoreTransaction('t', 1000);
    check.require('linux', { kind: 'noCheckedBacklog' });
    expect((await sent(check))?.[0].ConditionCheck).toMatchObject({
      ConditionExpression: 'checked = :zero',
      ExpressionAttributeValues: { ':zero': 0 },
    });
    expect(await sent(new StoreTransaction('t', 1000))).toBeUndefined();
  });

  it('counts an unchecked waiting job as waiting but not checked, and moves a job between fleets', async () => {
    const transaction = new StoreTransaction('t', 1000);
    const job = { ...waiting('8', 'old'), uncheckedSince: 5 };
    transaction.putJob(job, { ...job, fleet: 'new' });
    const counters = (await sent(transaction))!.flatMap((item) => (item.Update ? [item.Update] : []));
    expect(
      counters.map((update) => [
        update.Key!.pk,
        update.ExpressionAttributeValues![':waiting'],
        update.ExpressionAttributeValues![':checked'],
      ]),
    ).toEqual([
      ['FLEET#old', -1, 0],
      ['FLEET#new', 1, 0],
    ]);
  });
});

describe('store retries', () => {
  it('reads and decides again after a lost race, until it commits', async () => {
    let tries = 0;
    expect(
      await withRetries('admitJob', quick, async () =>
        ++tries < 3 ? Promise.reject(tries === 1 ? race() : new LostRace('moved')) : 'done',
      ),
    ).toBe('done');
    expect(tries).toBe(3);
  });

  it('gives up after its attempts, saying which operation kept losing', async () => {
    await expect(withRetries('claimNextWaiting', quick, () => Promise.reject(race()))).rejects.toThrow(
      'DynamoDB store: claimNextWaiting lost 3 races in a row; giving up',
    );
  });

  it('does not retry a failure that is no race: a transaction refused as invalid, a missing table', async () => {
    const invalid = Object.assign(race(), { CancellationReasons: [{ Code: 'None' }, { Code: 'ValidationError' }] });
    const missing = Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' });
    for (const error of [invalid, missing]) {
      let tries = 0;
      await expect(withRetries('admitJob', quick, () => (tries++, Promise.reject(error)))).rejects.toBe(error);
      expect(tries).toBe(1);
    }
  });
});
