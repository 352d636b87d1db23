/**
 * Named leases as a replica's periodic work takes them. The store's `Lease` (store/types.ts) is one; it
 * is restated here because files of src/ import from no folder.
 */
export interface LeaseStore {
  acquire(name: string, holder: string, ttlMs: number, now: number): Promise<number | undefined>;
  release(name: string, holder: string, token: number): Promise<void>;
}

/** The latest pass of one periodic task (reconciler, polls, recovery, retention), whichever replica ran it. */
export interface TaskPass {
  task: string;
  holder: string;
  startedAt: number;
  finishedAt: number;
  ok: boolean;
  summary: string;
}

/** Where each periodic task's latest pass is kept (the store's `recordTaskPass`), restated as LeaseStore is. */
export interface TaskPassLog {
  recordTaskPass(pass: TaskPass): Promise<void>;
}

/** This replica's leases: each periodic task takes the one of its name. */
export interface ReplicaLeases {
  store: LeaseStore;
  /** With it, every pass of a task under one of these leases is recorded there, under the task's name and `holder`. */
  passes?: TaskPassLog;
  /** This replica, unique among those sharing the store (host, pid and a random part). */
  holder: string;
  /** A holder that stops renewing loses its lease this long after its last renewal (FLEETBOT_LEASE_SECONDS). */
  ttlMs: number;
  /** The clock; tests move it instead of waiting. */
  now?: () => number;
}

/** One named lease of a replica's. */
export interface TaskLease extends ReplicaLeases {
  name: string;
}

/** The lease of the task `name`, when the replica has leases. */
export function taskLease(leases: ReplicaLeases | undefined, name: string): TaskLease | undefined {
  return leases && { ...leases, name };
}

/** Refusal of a pass asked for on a replica that does not hold the task's lease. */
export class LeaseHeldElsewhere extends Error {
  constructor(name: string) {
    super(`another replica holds the lease "${name}"`);
    this.name = 'LeaseHeldElsewhere';
  }
}

/**
 * Keeps one named lease: tries to take it at start and then every third of its time, so a holder renews it
 * twice before it could lapse and a replica waiting for it takes it within a third of its time after it
 * lapses (within twice its time of the holder's last renewal). `onTaken` hears of each new term.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private token: number | undefined;
  private heldUntil = 0;
  private renewing: Promise<boolean> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly lease: TaskLease,
    private readonly onTaken: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.now = lease.now ?? Date.now;
  }

  get name(): string {
    return this.lease.name;
  }

  start(): void {
    if (this.timer) return;
    this.renewEveryThird();
    void this.renew().catch(this.onError);
  }

  /** Renews the lease every third of its time from now on, without trying now (a caller that has just taken it). */
  renewEveryThird(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew().catch(this.onError), Math.max(1, Math.floor(this.lease.ttlMs / 3)));
    this.timer.unref();
  }

  /**
   * Held as far as the last renewal says, less a fifth of the lease: a holder whose renewals stopped
   * succeeding (store unreachable, process stalled) stops starting work before another replica may take
   * the lease, so that short work it started still ends in its own term. A healthy holder, renewing every
   * third, always has more than that left.
   */
  holds(): boolean {
    return this.token !== undefined && this.now() < this.heldUntil - this.lease.ttlMs / 5;
  }

  /** Takes or renews the lease now (one call at a time); true when this replica holds it. */
  renew(): Promise<boolean> {
    this.renewing ??= this.takeOrRenew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Stops renewing and gives the lease up, so that another replica takes it without waiting for it to lapse. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing?.catch(() => undefined);
    const { token } = this;
    this.token = undefined;
    if (token !== undefined) await this.lease.store.release(this.lease.name, this.lease.holder, token);
  }

  private async takeOrRenew(): Promise<boolean> {
    const { lease } = this;
    // The time before the call: the store counts the term from no earlier, so this side never overrates it.
    const now = this.now();
    const token = await lease.store.acquire(lease.name, lease.holder, lease.ttlMs, now);
    const newTerm = token !== undefined && token !== this.token;
    this.token = token;
    this.heldUntil = token === undefined ? 0 : now + lease.ttlMs;
    if (newTerm) this.onTaken();
    return token !== undefined;
  }
}
