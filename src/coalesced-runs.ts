/**
 * One run at a time per key. A request that comes while a run is under way does not start a second run
 * beside it: it asks for one more run after it (however many requests came meanwhile), and waits for
 * that. Each run sees everything that happened before it started, so nothing asked for is missed.
 */
export class CoalescedRuns {
  private readonly runs = new Map<string, { again: boolean; done: Promise<number> }>();

  /** Resolves to what the run started here counted; a request folded into a run under way gets 0 (that run counts it). */
  async run(key: string, work: () => Promise<number>): Promise<number> {
    const running = this.runs.get(key);
    if (running) {
      running.again = true;
      await running.done;
      return 0;
    }
    const state = { again: false, done: Promise.resolve(0) };
    state.done = (async () => {
      let total = 0;
      do {
        state.again = false;
        total += await work();
      } while (state.again);
      return total;
    })().finally(() => this.runs.delete(key));
    this.runs.set(key, state);
    return state.done;
  }
}
