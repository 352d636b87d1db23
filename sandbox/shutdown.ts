/**
 * Everything the sandbox started, stopped once, newest first: at the end of a run, after an error, or on
 * Ctrl-C (SIGINT) or SIGTERM. Something still starting when the signal comes is stopped as soon as it is up,
 * so no moto_server or app outlives the sandbox.
 */
export class Shutdown {
  private readonly started: { name: string; stop: () => Promise<void> }[] = [];
  private readonly starting = new Set<Promise<unknown>>();
  private stopping: Promise<void> | undefined;

  /** Starts something and registers how to stop it. */
  async start<T>(name: string, begin: () => Promise<T>, stop: (thing: T) => Promise<void>): Promise<T> {
    if (this.requested) throw new Error(`not starting ${name}: the sandbox is stopping`);
    const pending = begin();
    this.starting.add(pending);
    try {
      const thing = await pending;
      this.started.push({ name, stop: () => stop(thing) });
      return thing;
    } finally {
      this.starting.delete(pending);
    }
  }

  get requested(): boolean {
    return this.stopping !== undefined;
  }

  stopAll(): Promise<void> {
    this.stopping ??= this.stopEverything();
    return this.stopping;
  }

  private async stopEverything(): Promise<void> {
    for (;;) {
      await Promise.allSettled(this.starting);
      const next = this.started.pop();
      if (!next) return;
      try {
        await next.stop();
      } catch (error) {
        console.error(`sandbox: could not stop ${next.name}: ${(error as Error).message}`);
      }
    }
  }
}

/** Resolves with the first SIGINT or SIGTERM; later ones are answered with a note instead of killing the process mid-stop. */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        console.error(`sandbox: ${signal} again; still stopping what it started`);
        return;
      }
      received = signal;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
