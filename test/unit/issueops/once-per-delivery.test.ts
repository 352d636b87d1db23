import { pino } from 'pino';
import { oncePerDelivery } from '../../../src/issueops/once-per-delivery.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

describe('handling an IssueOps delivery once per GUID', () => {
  const log = pino({ level: 'silent' });

  it('runs a GUID once, however often it is delivered', async () => {
    const { deliveries } = new SqliteStore(':memory:');
    const handled: string[] = [];
    for (const guid of ['a', 'b', 'a', 'a']) await oncePerDelivery(deliveries, guid, () => handled.push(guid), log);
    expect(handled).toEqual(['a', 'b']);
  });

  it('runs a GUID again when its handling failed, so a redelivery is not lost', async () => {
    const { deliveries } = new SqliteStore(':memory:');
    const attempts: number[] = [];
    const failing = async () => {
      attempts.push(attempts.length);
      throw new Error('GitHub is down');
    };
    await expect(oncePerDelivery(deliveries, 'a', failing, log)).rejects.toThrow('GitHub is down');
    await oncePerDelivery(deliveries, 'a', () => attempts.push(attempts.length), log);
    await oncePerDelivery(deliveries, 'a', () => attempts.push(attempts.length), log);
    expect(attempts).toEqual([0, 1]);
  });

  it('remembers handled GUIDs across a restart (the same database file)', async () => {
    const file = `${process.env.TMPDIR ?? '/tmp'}/fleetbot-once-${process.pid}-${Date.now()}.db`;
    const first = new SqliteStore(file);
    await oncePerDelivery(first.deliveries, 'a', () => undefined, log);
    await first.close();
    const second = new SqliteStore(file);
    const handled: string[] = [];
    await oncePerDelivery(second.deliveries, 'a', () => handled.push('a'), log);
    await second.close();
    expect(handled).toEqual([]);
  });
});
