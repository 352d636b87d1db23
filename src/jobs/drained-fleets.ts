import type { Store } from '../store/types.js';

/**
 * How long this replica trusts its last read of the drained fleets. A fleet drained on another replica
 * (or by the CLI on the store) takes no new runners here at most this long after; one drained or
 * undrained through this replica's scheduler (`forget`) at once.
 */
export const DRAINED_FLEETS_CACHE_MS = 2_000;

/** The store's drained fleets, read at most once per DRAINED_FLEETS_CACHE_MS: every queued job asks. */
export class DrainedFleets {
  private read: { at: number; fleets: Promise<Set<string>> } | undefined;

  constructor(
    private readonly store: Pick<Store, 'drainedFleets'>,
    private readonly now: () => number,
  ) {}

  async has(fleet: string): Promise<boolean> {
    const now = this.now();
    if (!this.read || now - this.read.at >= DRAINED_FLEETS_CACHE_MS || now < this.read.at) {
      const fleets = this.store.drainedFleets();
      this.read = { at: now, fleets };
      // A failed read is not kept: the next question reads again.
      fleets.catch(() => {
        if (this.read?.fleets === fleets) this.read = undefined;
      });
    }
    return (await this.read.fleets).has(fleet);
  }

  /** The next question reads the store again. */
  forget(): void {
    this.read = undefined;
  }
}
