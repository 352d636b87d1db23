import { createServer, type IncomingMessage } from 'node:http';
import { TAG_RUNNER } from '../src/compute/types.js';
import { forwardTo, listenOnLoopback } from '../test/helpers/proxy.js';

/** The capacity provider a RunTask asked for, per runner (the fleetbot:runner tag of the request). */
export type RequestedPlacements = ReadonlyMap<string, string>;

export interface FargateShim {
  /** Where the app sends its AWS calls instead of moto. */
  url: string;
  requestedPlacements: RequestedPlacements;
  close(): Promise<void>;
}

const RUN_TASK_TARGET = 'AmazonEC2ContainerServiceV20141113.RunTask';
const FARGATE_PROVIDERS = new Set(['FARGATE', 'FARGATE_SPOT']);

interface RunTaskBody {
  launchType?: string;
  capacityProviderStrategy?: { capacityProvider: string }[];
  tags?: { key: string; value: string }[];
}

/**
 * A proxy between the app and moto for one gap in moto 5.2: it ignores RunTask's capacityProviderStrategy,
 * so a task asked of FARGATE_SPOT or FARGATE (the example fleet's capacity providers) is placed as on EC2,
 * and with no container instances in the cluster moto answers HTTP 500 with an HTML page. On AWS both
 * providers run the task on Fargate (only price and interruptions differ), so the shim turns such a RunTask
 * into launchType FARGATE, which moto does run, and remembers which provider was asked for, so the
 * narration can say so. Every other call passes through untouched; the app itself is not changed.
 */
export async function startFargateShim(motoUrl: string): Promise<FargateShim> {
  const target = new URL(motoUrl);
  const requestedPlacements = new Map<string, string>();
  const server = createServer((incoming, outgoing) => {
    if (incoming.headers['x-amz-target'] !== RUN_TASK_TARGET) {
      forwardTo(target, incoming, outgoing);
      return;
    }
    readBody(incoming).then(
      (raw) => {
        const body = fargateInsteadOfProviders(raw, requestedPlacements);
        // The body may have changed length; moto does not check the SDK's signature, which no longer matches.
        incoming.headers['content-length'] = String(body.length);
        forwardTo(target, incoming, outgoing, body);
      },
      () => outgoing.writeHead(502).end(),
    );
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    requestedPlacements,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The SDK keeps connections alive; close() alone would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

function readBody(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => resolve(Buffer.concat(chunks)));
    incoming.on('error', reject);
  });
}

/** The RunTask body moto can run; records the provider asked for under the request's runner tag. */
function fargateInsteadOfProviders(raw: Buffer, requestedPlacements: Map<string, string>): Buffer {
  let body: RunTaskBody;
  try {
    body = JSON.parse(raw.toString('utf8')) as RunTaskBody;
  } catch {
    return raw; // moto answers what it makes of it
  }
  const providers = body.capacityProviderStrategy?.map((entry) => entry.capacityProvider) ?? [];
  if (providers.length === 0 || !providers.every((provider) => FARGATE_PROVIDERS.has(provider))) return raw;
  const runner = body.tags?.find((tag) => tag.key === TAG_RUNNER)?.value;
  if (runner) requestedPlacements.set(runner, providers.join(', '));
  delete body.capacityProviderStrategy;
  body.launchType = 'FARGATE';
  return Buffer.from(JSON.stringify(body));
}
