import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * Forwards `incoming` to `target` (host header rewritten) and pipes the answer back to `outgoing`;
 * a failed upstream call is answered 502. `body` is sent instead of `incoming` when the caller has
 * already read it. With `hold`, the answer is drained and dropped and `hold` is called instead: the
 * call reached the target but the caller never hears of it.
 */
export function forwardTo(target: URL, incoming: IncomingMessage, outgoing: ServerResponse, body?: Buffer, hold?: () => void): void {
  const upstream = httpRequest(
    {
      hostname: target.hostname,
      port: target.port,
      path: incoming.url,
      method: incoming.method,
      headers: { ...incoming.headers, host: target.host },
    },
    (response) => {
      if (hold) {
        response.resume();
        hold();
        return;
      }
      outgoing.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(outgoing);
    },
  );
  upstream.on('error', () => outgoing.writeHead(502).end());
  if (body !== undefined) upstream.end(body);
  else incoming.pipe(upstream);
}

/** Listens on a free loopback port and returns the server's URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://127.0.0.1:${port}`;
}
