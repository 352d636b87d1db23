import { errorFields, type ErrorFields } from './errors.js';
import { LeaseHeldElsewhere, LeaseKeeper, type TaskLease, type TaskPassLog } from './lease-keeper.js';

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
  private readonly work: () => Promise<T>;

  /**
   * `onError` hears of passes the timer started that failed; callers of `pass()` get their own rejection.
   * With a lease whose replica keeps a pass log (`passes`), every pass run is recorded there, failed or not.
   */
  constructor(
    work: () => Promise<T>,
    private readonly onError: (error: unknown) => void,
    lease?: TaskLease,
  ) {
    this.keeper = lease && new LeaseKeeper(lease, () => this.tick(), onError);
    this.work = lease?.passes ? () => recorded(work, lease, lease.passes!, onError) : work;
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
   * A task not started (a Lambda tick runs one pass per invocation) holds the lease for that pass only.
   */
  pass(): Promise<T> {
    this.running ??= (this.timer ? this.leased() : this.leasedForThisPass()).finally(() => {
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

  /**
   * Without ticks nothing renews the lease between passes: it is renewed while this pass runs (a pass longer
   * than the lease must not let another holder start one), and given up when the pass ends, so that a
   * replica waiting for it takes it at its next try rather than when it lapses.
   */
  private async leasedForThisPass(): Promise<T> {
    const { keeper } = this;
    if (!keeper) return this.work();
    if (!(await keeper.renew())) throw new LeaseHeldElsewhere(keeper.name);
    keeper.renewEveryThird();
    try {
      return await this.work();
    } finally {
      // Unless the task was started meanwhile: the lease is then its ticks' to keep.
      if (!this.timer) await keeper.stop().catch(this.onError);
    }
  }
}

/** The longest summary kept of a pass: what it came to, or why it failed. */
const SUMMARY_CHARS = 500;

/** Runs one pass and records it: when it ran, on which replica, whether it succeeded, and what it came to. */
async function recorded<T>(work: () => Promise<T>, lease: TaskLease, passes: TaskPassLog, onError: (error: unknown) => void): Promise<T> {
  const now = lease.now ?? Date.now;
  const startedAt = now();
  const record = async (ok: boolean, summary: string) => {
    const pass = { task: lease.name, holder: lease.holder, startedAt, finishedAt: now(), ok, summary: clip(summary) };
    // A pass log that fails does not fail the pass: it is reported, and the next pass is recorded again.
    await passes.recordTaskPass(pass).catch((error: unknown) => {
      onError(new Error(`could not record the pass of "${lease.name}": ${errorFields(error).message}`, { cause: error }));
    });
  };
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await record(false, errorFields(error).message);
    throw error;
  }
  await record(true, summaryOf(result));
  return result;
}

/** What a pass came to, as text: its result as JSON (a result JSON cannot write, as String gives it). */
function summaryOf(result: unknown): string {
  if (typeof result === 'string') return result;
  try {
    return JSON.stringify(result) ?? '';
  } catch {
    return String(result);
  }
}

function clip(text: string): string {
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}

/** What one pass of each periodic task came to, by task name (the name of its lease). */
export interface PassesSummary {
  ran: string[];
  /** Refused: another holder (a service replica, another invocation) has the task's lease. */
  heldElsewhere: string[];
  failed: { task: string; error: ErrorFields }[];
}

/** One pass of each task, side by side: a task that fails or is held elsewhere stops none of the others. */
export async function passEach(passes: ReadonlyMap<string, () => Promise<unknown>>): Promise<PassesSummary> {
  const summary: PassesSummary = { ran: [], heldElsewhere: [], failed: [] };
  const tasks = [...passes.keys()];
  const outcomes = await Promise.allSettled([...passes.values()].map(async (pass) => pass()));
  outcomes.forEach((outcome, index) => {
    const task = tasks[index]!;
    if (outcome.status === 'fulfilled') summary.ran.push(task);
    else if (outcome.reason instanceof LeaseHeldElsewhere) summary.heldElsewhere.push(task);
    else summary.failed.push({ task, error: errorFields(outcome.reason) });
  });
  return summary;
}
