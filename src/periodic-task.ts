/**
 * Runs a pass at start and then at a fixed interval, never two at once: a tick that comes while a pass
 * is still under way joins it instead of starting another (a slow CI API or AWS must not pile passes up).
 */
export class PeriodicTask<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  /** `onError` hears of passes the timer started that failed; callers of `pass()` get their own rejection. */
  constructor(
    private readonly work: () => Promise<T>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(intervalMs: number): void {
    if (this.timer) return;
    const tick = () => void this.pass().catch(this.onError);
    tick();
    this.timer = setInterval(tick, intervalMs);
    // A pending pass must not keep the process alive on shutdown.
    this.timer.unref();
  }

  /** Stops the ticks and waits for a pass under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** Resolves when no pass is under way (a failed one included: its failure is `onError`'s or its caller's). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** One pass now; a pass already under way is joined rather than doubled. */
  pass(): Promise<T> {
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}
