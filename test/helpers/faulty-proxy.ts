import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/**
 * An HTTP proxy in front of moto that answers the first `times` calls of an AWS JSON-protocol action
 * with an error, then passes calls through: real throttling and 5xx answers, seen by a real SDK client.
 */
export interface FaultyProxy {
  url: string;
  /** Calls seen per action (X-Amz-Target), failed or not. */
  calls: Map<string, number>;
  failNext(action: string, times: number, status: number, errorType: string): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(targetUrl: string): Promise<FaultyProxy> {
  const target = new URL(targetUrl);
  const faults = new Map<string, { left: number; status: number; errorType: string }>();
  const calls = new Map<string, number>();
  const server = createServer((incoming, outgoing) => {
    const action = String(incoming.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    calls.set(action, (calls.get(action) ?? 0) + 1);
    const fault = faults.get(action);
    if (fault && fault.left > 0) {
      fault.left--;
      incoming.resume();
      outgoing
        .writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': fault.errorType })
        .end(JSON.stringify({ __type: fault.errorType, message: 'Rate exceeded' }));
      return;
    }
    const headers: IncomingHttpHeaders = { ...incoming.headers, host: target.host };
    const upstream = httpRequest(
      { hostname: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.writeHead(502).end());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext: (action, times, status, errorType) => faults.set(action, { left: times, status, errorType }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
