/**
 * Queues that run one task at a time per key, in arrival order. Credential requests go through one
 * lane per GitHub installation: Octokit's throttling spaces them about a second apart, and because a
 * request is only made when its turn comes, a runner released while it waited costs GitHub nothing.
 */
export class SerialLanes {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** How many keys have work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
