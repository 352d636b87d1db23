import { pino } from 'pino';
import { readConfig } from '../../../src/config.js';
import { Retention } from '../../../src/jobs/retention.js';
import type { PrunedRows, StoreRetention } from '../../../src/store/types.js';
import { logLines } from '../../helpers/log-lines.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 5, 12);

/** A store that records the cut-offs it is asked to prune before and answers with `pruned`. */
function recordingStore(pruned: PrunedRows): StoreRetention & { cutoffs: number[] } {
  const cutoffs: number[] = [];
  return {
    cutoffs,
    pruneFinished: async (before) => {
      cutoffs.push(before);
      return pruned;
    },
  };
}

describe('store retention', () => {
  it('keeps finished history for FLEETBOT_RETENTION_DAYS, 14 by default', () => {
    expect(readConfig({}).retentionMs).toBe(14 * DAY);
    expect(readConfig({ FLEETBOT_RETENTION_DAYS: '3' }).retentionMs).toBe(3 * DAY);
    expect(() => readConfig({ FLEETBOT_RETENTION_DAYS: '0' })).toThrow(/FLEETBOT_RETENTION_DAYS/);
  });

  it('prunes what finished before the retention period, and says so in one line', async () => {
    const store = recordingStore({ jobs: 120, runners: 118 });
    const { lines, sink } = logLines();
    const retention = new Retention({ store, retentionMs: 14 * DAY, log: pino(sink) as never, now: () => NOW });
    await retention.pass();
    expect(store.cutoffs).toEqual([NOW - 14 * DAY]);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      jobs: 120,
      runners: 118,
      msg: 'pruned 120 finished jobs and 118 released runners older than the retention',
    });
  });

  it('logs nothing when nothing was old enough', async () => {
    const { lines, sink } = logLines();
    const retention = new Retention({
      store: recordingStore({ jobs: 0, runners: 0 }),
      retentionMs: DAY,
      log: pino(sink) as never,
      now: () => NOW,
    });
    await retention.pass();
    expect(lines).toEqual([]);
  });

  it('prunes once at start, and stops', async () => {
    const store = recordingStore({ jobs: 0, runners: 0 });
    const retention = new Retention({ store, retentionMs: DAY, log: pino({ level: 'silent' }) as never, now: () => NOW });
    retention.start();
    await retention.stop();
    expect(store.cutoffs).toEqual([NOW - DAY]);
  });
});
