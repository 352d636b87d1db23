import { createServer } from 'node:http';
import { forwardTo, listenOnLoopback } from './proxy.js';

/**
 * An HTTP proxy in front of moto that answers the first `times` calls of an AWS JSON-protocol action
 * with an error, then passes calls through: real throttling and 5xx answers, seen by a real SDK client.
 */
export interface FaultyProxy {
  url: string;
  /** Calls seen per action (X-Amz-Target), failed or not. */
  calls: Map<string, number>;
  /** `after`: calls of the action to let through first (default 0). */
  failNext(action: string, times: number, status: number, errorType: string, after?: number): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(targetUrl: string): Promise<FaultyProxy> {
  const target = new URL(targetUrl);
  const faults = new Map<string, { skip: number; left: number; status: number; errorType: string }>();
  const calls = new Map<string, number>();
  const server = createServer((incoming, outgoing) => {
    const action =
      String(incoming.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    calls.set(action, (calls.get(action) ?? 0) + 1);
    const fault = faults.get(action);
    if (fault && fault.skip > 0) fault.skip--;
    else if (fault && fault.left > 0) {
      fault.left--;
      incoming.resume();
      outgoing
        .writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': fault.errorType })
        .end(JSON.stringify({ __type: fault.errorType, message: 'Rate exceeded' }));
      return;
    }
    forwardTo(target, incoming, outgoing);
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    calls,
    failNext: (action, times, status, errorType, after = 0) => faults.set(action, { skip: after, left: times, status, errorType }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
