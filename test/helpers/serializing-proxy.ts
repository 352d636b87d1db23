import { createServer } from 'node:http';
import { forwardTo, listenOnLoopback } from './proxy.js';

export interface SerializingProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * Forwards requests to `target` one at a time, in arrival order. moto_server answers requests on many
 * threads without locking its DynamoDB tables, so two conditional writes racing there can both succeed
 * (measured: 3 of 20 concurrent lease takings won). DynamoDB applies the writes to one item one after the
 * other; in front of moto, this proxy does the same, so races between clients test the code, not moto.
 */
export async function startSerializingProxy(target: string): Promise<SerializingProxy> {
  const targetUrl = new URL(target);
  let tail = Promise.resolve();
  const server = createServer((incoming, outgoing) => {
    tail = tail.then(
      () =>
        new Promise<void>((done) => {
          outgoing.once('close', () => done());
          forwardTo(targetUrl, incoming, outgoing);
        }),
    );
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
