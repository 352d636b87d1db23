import { LeaseHeldElsewhere, LeaseKeeper, type TaskLease } from './lease-keeper.js';

/**
 * Runs a pass at start and then at a fixed interval, never two at once: a tick that comes while a pass
 * is still under way joins it instead of starting another (a slow CI API or AWS must not pile passes up).
 *
 * With a lease, passes run only on the replica holding it, so replicas sharing a store never run the task
 * at once: the lease is renewed every third of its time while the task runs (passes under way included),
 * a tick on a replica that does not hold it starts nothing, and a replica that takes the lease runs a pass
 * at once, as at start.
 */
export class PeriodicTask<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  private readonly keeper: LeaseKeeper | undefined;

  /** `onError` hears of passes the timer started that failed; callers of `pass()` get their own rejection. */
  constructor(
    private readonly work: () => Promise<T>,
    private readonly onError: (error: unknown) => void,
    lease?: TaskLease,
  ) {
    this.keeper = lease && new LeaseKeeper(lease, () => this.tick(), onError);
  }

  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), intervalMs);
    // A pending pass must not keep the process alive on shutdown.
    this.timer.unref();
    // With a lease, the first pass waits for it to be taken (onTaken).
    if (this.keeper) this.keeper.start();
    else this.tick();
  }

  /** Stops the ticks, waits for a pass under way, and gives the lease up. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** Resolves when no pass is under way (a failed one included: its failure is `onError`'s or its caller's). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.keeper?.stop().catch(this.onError);
  }

  /**
   * One pass now; a pass already under way is joined rather than doubled. With a lease, the lease is
   * taken first if it is not held, and a replica that cannot take it is refused (LeaseHeldElsewhere).
   */
  pass(): Promise<T> {
    this.running ??= this.leased().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Whether this replica may start a pass: it holds the lease (as its last renewal says), or there is none. */
  holdsLease(): boolean {
    return this.keeper?.holds() ?? true;
  }

  /** A pass from the timer or a new term of the lease; none once stopped (a term taken while stopping starts nothing). */
  private tick(): void {
    if (this.timer && this.holdsLease()) void this.pass().catch(this.onError);
  }

  private async leased(): Promise<T> {
    const { keeper } = this;
    if (keeper && !keeper.holds() && !(await keeper.renew())) throw new LeaseHeldElsewhere(keeper.name);
    return this.work();
  }
}
