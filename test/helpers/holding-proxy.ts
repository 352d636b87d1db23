import { createServer, type ServerResponse } from 'node:http';
import { forwardTo, listenOnLoopback } from './proxy.js';

/**
 * An HTTP proxy in front of moto that can hold back the answers of one AWS action: the call reaches
 * moto and is carried out (the task or instance exists), but the caller never hears of it. What a
 * process killed in the middle of a launch leaves behind. Or it can swallow the calls of an action:
 * they never reach moto, as when a process dies before sending them.
 */
export interface HoldingProxy {
  url: string;
  /** Calls seen per action (JSON `X-Amz-Target` or query `Action`). */
  calls: Map<string, number>;
  /** Answers of `action` that moto gave and the proxy holds back. */
  held(action: string): number;
  /** From now on, moto's answers to `action` are held back. */
  holdAnswers(action: string): void;
  /** From now on, calls of `action` are swallowed: moto never sees them, the caller waits. */
  swallowCalls(action: string): void;
  /** Calls of `action` swallowed so far. */
  swallowed(action: string): number;
  /** Stops holding and swallowing; what is still held or swallowed is dropped (its callers are gone). */
  passThrough(): void;
  close(): Promise<void>;
}

function actionOf(target: string | string[] | undefined, body: Buffer): string {
  const fromTarget = String(target ?? '')
    .split('.')
    .pop();
  if (fromTarget) return fromTarget;
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
}

export async function startHoldingProxy(targetUrl: string): Promise<HoldingProxy> {
  const target = new URL(targetUrl);
  const calls = new Map<string, number>();
  let holding: string | undefined;
  let swallowing: string | undefined;
  const held = new Map<string, ServerResponse[]>();
  const swallowed = new Map<string, ServerResponse[]>();
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = actionOf(incoming.headers['x-amz-target'], body);
      calls.set(action, (calls.get(action) ?? 0) + 1);
      if (action === swallowing) {
        swallowed.set(action, [...(swallowed.get(action) ?? []), outgoing]);
        return;
      }
      const hold = action === holding ? () => held.set(action, [...(held.get(action) ?? []), outgoing]) : undefined;
      forwardTo(target, incoming, outgoing, body, hold);
    });
  });
  const url = await listenOnLoopback(server);
  const dropHeld = () => {
    for (const answers of [...held.values(), ...swallowed.values()]) answers.forEach((answer) => answer.destroy());
    held.clear();
    swallowed.clear();
  };
  return {
    url,
    calls,
    held: (action) => held.get(action)?.length ?? 0,
    holdAnswers: (action) => {
      holding = action;
    },
    swallowCalls: (action) => {
      swallowing = action;
    },
    swallowed: (action) => swallowed.get(action)?.length ?? 0,
    passThrough: () => {
      holding = undefined;
      swallowing = undefined;
      dropHeld();
    },
    close: () =>
      new Promise((resolve) => {
        dropHeld();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
