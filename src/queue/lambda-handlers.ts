import type { LambdaFunctionURLEvent, LambdaFunctionURLResult, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Logger } from 'probot';
import { enqueueDelivery, type DeliveryQueue, type VerifiedDelivery, type WebhookAnswer, type WebhookRequest } from '../deliveries.js';
import { errorFields } from '../errors.js';
import { decodeDelivery } from './message.js';

/** A function URL's answer in full (Lambda also takes a bare string, which fleetbot never gives). */
export type FunctionUrlAnswer = Exclude<LambdaFunctionURLResult, string>;

/** Checks one route's deliveries: verified, or the answer to a refused or ignored one. */
export type DeliveryCheck = (request: WebhookRequest) => Promise<VerifiedDelivery | WebhookAnswer>;

/** What the `webhooks` function needs: a check per webhook path, and the queue. */
export interface FrontDoor {
  routes: Readonly<Record<string, DeliveryCheck>>;
  queue: DeliveryQueue;
  log: Logger;
}

/**
 * The `webhooks` function: a function URL request is checked by its path's route, queued, and answered
 * 202. Nothing else happens here, so that it answers fast from a cold start.
 */
export async function answerFunctionUrl(event: LambdaFunctionURLEvent, door: FrontDoor): Promise<FunctionUrlAnswer> {
  const reply = ({ status, message }: WebhookAnswer, headers: Record<string, string> = {}): FunctionUrlAnswer => ({
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ message }),
  });
  const path = event.rawPath.replace(/\/+$/, '') || '/';
  const check = Object.hasOwn(door.routes, path) ? door.routes[path] : undefined;
  if (!check) return reply({ status: 404, message: `no webhook route at ${path}` });
  if (event.requestContext.http.method !== 'POST') return reply({ status: 405, message: 'POST only' }, { allow: 'POST' });
  const body = event.body === undefined ? '' : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  const checked = await check({ headers, body });
  if ('status' in checked) {
    const source = event.requestContext.http.sourceIp;
    if (checked.status >= 400) door.log.warn({ path, status: checked.status, source }, `webhook refused: ${checked.message}`);
    return reply(checked);
  }
  return reply(await enqueueDelivery(door.queue, checked, door.log));
}

/** What the `worker` function hands each message to: the app's handlers, and a wait for the work they started. */
export interface DeliveryHandlers {
  replay(delivery: VerifiedDelivery): Promise<void>;
  /** Resolves when launches and clean-ups the deliveries started are done: a Lambda is frozen once it returns. */
  idle(): Promise<void>;
}

/**
 * The `worker` function: each message of the batch is handled at once; those that fail are named in
 * `batchItemFailures`, so that only they come back (the event source mapping needs ReportBatchItemFailures).
 */
export async function handleSqsBatch(event: SQSEvent, app: DeliveryHandlers, log: Logger): Promise<SQSBatchResponse> {
  const outcomes = await Promise.all(
    event.Records.map(async (record) => {
      try {
        await app.replay(decodeDelivery(record.body));
        return undefined;
      } catch (error) {
        log.warn(
          { messageId: record.messageId, receiveCount: Number(record.attributes.ApproximateReceiveCount), err: errorFields(error) },
          'a queued delivery failed; it comes back after its visibility timeout (after maxReceiveCount receives, to the dead-letter queue)',
        );
        return { itemIdentifier: record.messageId };
      }
    }),
  );
  await app.idle();
  return { batchItemFailures: outcomes.filter((failure) => failure !== undefined) };
}
