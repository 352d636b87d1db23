import { SerialLanes } from '../../src/serial-lanes.js';

describe('serial lanes', () => {
  it('runs one task at a time per key, in arrival order, and keys independently', async () => {
    const lanes = new SerialLanes();
    const events: string[] = [];
    const task = (name: string, ms: number) => async () => {
      events.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([lanes.run('a', task('a1', 20)), lanes.run('a', task('a2', 1)), lanes.run('b', task('b1', 1))]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(events.indexOf('start a2')).toBeGreaterThan(events.indexOf('end a1'));
    expect(events.indexOf('end b1')).toBeLessThan(events.indexOf('end a1'));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(lanes.size).toBe(0);
  });

  it('keeps the lane going after a task fails', async () => {
    const lanes = new SerialLanes();
    const failed = lanes.run('a', async () => Promise.reject(new Error('boom')));
    const next = lanes.run('a', async () => 'next');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });
});
