import type { LambdaFunctionURLEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { pino } from 'pino';
import { checkGitHubDelivery } from '../../../src/ci/github-door.js';
import { checkGitLabDelivery, GITLAB_WEBHOOK_PATH, gitlabDelivery, GitLabWebhookTokens } from '../../../src/ci/gitlab-door.js';
import { DeliveryTooLarge, GITHUB_WEBHOOK_PATH, type DeliveryQueue, type VerifiedDelivery } from '../../../src/deliveries.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { fleetSpecSchema } from '../../../src/fleets/spec.js';
import { answerFunctionUrl, handleSqsBatch, type FrontDoor } from '../../../src/queue/lambda-handlers.js';
import { encodeDelivery } from '../../../src/queue/message.js';
import { WEBHOOK_SECRET } from '../../helpers/app-key.js';
import { sign } from '../../helpers/app-process.js';
import { jobHookPayload } from '../../helpers/gitlab-payloads.js';
import { queuedJob } from '../../helpers/payloads.js';

const log = pino({ level: 'silent' });

const gitlabFleets = new FleetRegistry([
  fleetSpecSchema.parse({
    name: 'gl',
    ci: 'gitlab',
    labels: ['linux'],
    maxRunners: 2,
    gitlab: {
      url: 'https://gitlab.example',
      tokenParameter: '/gl/runner-token',
      apiTokenParameter: '/gl/api-token',
      webhookSecretParameter: '/gl/webhook-secret',
    },
    compute: { type: 'ecs', cluster: 'runners', taskDefinition: 'gl-runner', subnets: ['subnet-1'] },
  }),
]);

function door(queue: DeliveryQueue = recordingQueue()): FrontDoor {
  const tokens = new GitLabWebhookTokens(gitlabFleets, { webhookSecret: async () => 'gitlab-secret' }, log);
  return {
    routes: {
      [GITHUB_WEBHOOK_PATH]: async (request) => checkGitHubDelivery(WEBHOOK_SECRET, request),
      [GITLAB_WEBHOOK_PATH]: async (request) => checkGitLabDelivery(tokens, gitlabDelivery(request)),
    },
    queue,
    log,
  };
}

function recordingQueue(): DeliveryQueue & { sent: VerifiedDelivery[] } {
  const sent: VerifiedDelivery[] = [];
  return { sent, send: async (delivery) => void sent.push(delivery) };
}

/** A function URL event (payload format 2.0), as Lambda hands it to the `webhooks` function. */
function urlEvent(path: string, headers: Record<string, string>, body: string, options: { method?: string; base64?: boolean } = {}) {
  return {
    version: '2.0',
    rawPath: path,
    headers,
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
    requestContext: { http: { method: options.method ?? 'POST' } },
  } as unknown as LambdaFunctionURLEvent;
}

function githubEvent(body: string, signature = sign(body), options: { base64?: boolean } = {}) {
  const headers = {
    'content-type': 'application/json',
    'x-github-event': 'workflow_job',
    'x-github-delivery': 'delivery-1',
    'x-hub-signature-256': signature,
  };
  return urlEvent(GITHUB_WEBHOOK_PATH, headers, body, options);
}

describe('the webhooks function (function URL → verify → queue → 202)', () => {
  const body = JSON.stringify(queuedJob({ jobId: 7001, org: 'acme' }));

  it.each([false, true])('queues a signed GitHub delivery as it came and answers 202 (body in base64: %s)', async (base64) => {
    const queue = recordingQueue();

    const answer = await answerFunctionUrl(githubEvent(body, sign(body), { base64 }), door(queue));

    expect(answer.statusCode).toBe(202);
    expect(queue.sent).toEqual([{ ci: 'github', id: 'delivery-1', event: 'workflow_job', body }]);
  });

  it('refuses a delivery signed with another secret with 401, and queues nothing', async () => {
    const queue = recordingQueue();

    const answer = await answerFunctionUrl(githubEvent(body, sign(body, 'another-secret')), door(queue));

    expect(answer).toMatchObject({
      statusCode: 401,
      body: JSON.stringify({ message: 'signature does not match event payload and secret' }),
    });
    expect(queue.sent).toEqual([]);
  });

  it('refuses an unsigned delivery with 400 and a body changed after signing with 401, and queues nothing', async () => {
    const queue = recordingQueue();
    const unsigned = githubEvent(body);
    delete (unsigned.headers as Record<string, string>)['x-hub-signature-256'];

    expect((await answerFunctionUrl(unsigned, door(queue))).statusCode).toBe(400);
    expect((await answerFunctionUrl(githubEvent(body.replace('7001', '7002'), sign(body)), door(queue))).statusCode).toBe(401);
    expect(queue.sent).toEqual([]);
  });

  it('refuses a body that is not JSON with 400 and one over 25 MiB with 413, queueing neither', async () => {
    const queue = recordingQueue();
    const form = githubEvent(body);
    (form.headers as Record<string, string>)['content-type'] = 'application/x-www-form-urlencoded';
    const huge = JSON.stringify({ padding: 'x'.repeat(25 * 1024 * 1024) });

    expect((await answerFunctionUrl(form, door(queue))).statusCode).toBe(400);
    expect((await answerFunctionUrl(githubEvent(huge), door(queue))).statusCode).toBe(413);
    expect(queue.sent).toEqual([]);
  });

  it('answers 404 off the webhook paths and 405 to anything but POST', async () => {
    const queue = recordingQueue();

    expect((await answerFunctionUrl(urlEvent('/elsewhere', {}, ''), door(queue))).statusCode).toBe(404);
    expect((await answerFunctionUrl(urlEvent('/constructor', {}, ''), door(queue))).statusCode).toBe(404);
    expect((await answerFunctionUrl(urlEvent(GITHUB_WEBHOOK_PATH, {}, '', { method: 'GET' }), door(queue))).statusCode).toBe(405);
    expect(queue.sent).toEqual([]);
  });

  it('answers 503 when the queue fails, so that the sender delivers again', async () => {
    const failing: DeliveryQueue = { send: async () => Promise.reject(new Error('ServiceUnavailable')) };

    const answer = await answerFunctionUrl(githubEvent(body), door(failing));

    expect(answer.statusCode).toBe(503);
  });

  it('answers 413 for a delivery the queue cannot carry', async () => {
    const full: DeliveryQueue = { send: async () => Promise.reject(new DeliveryTooLarge(300_000, 262_144)) };

    const answer = await answerFunctionUrl(githubEvent(body), door(full));

    expect(answer).toMatchObject({ statusCode: 413 });
    expect(answer.body).toContain('300000 bytes queued, over the queue');
  });

  describe('GitLab', () => {
    const jobHook = JSON.stringify(jobHookPayload({ buildId: 31 }));
    const gitlabEvent = (token: string, event = 'Job Hook') =>
      urlEvent(GITLAB_WEBHOOK_PATH, { 'x-gitlab-token': token, 'x-gitlab-event': event, 'x-gitlab-event-uuid': 'uuid-31' }, jobHook);

    it('queues a Job event whose token matches, with the secret it matched and without the token', async () => {
      const queue = recordingQueue();

      const answer = await answerFunctionUrl(gitlabEvent('gitlab-secret'), door(queue));

      expect(answer.statusCode).toBe(202);
      expect(queue.sent).toEqual([{ ci: 'gitlab', id: 'uuid-31', event: 'Job Hook', body: jobHook, matched: ['/gl/webhook-secret'] }]);
      expect(JSON.stringify(queue.sent)).not.toContain('gitlab-secret');
    });

    it('refuses a wrong token with 401 and answers other events at once, queueing neither', async () => {
      const queue = recordingQueue();

      expect((await answerFunctionUrl(gitlabEvent('guessed'), door(queue))).statusCode).toBe(401);
      expect((await answerFunctionUrl(gitlabEvent('gitlab-secret', 'Pipeline Hook'), door(queue))).statusCode).toBe(200);
      expect(queue.sent).toEqual([]);
    });
  });
});

describe('the worker function (SQS batch → handlers → batchItemFailures)', () => {
  const record = (messageId: string, body: string) =>
    ({ messageId, body, attributes: { ApproximateReceiveCount: '1' } }) as unknown as SQSRecord;
  const delivery = (id: string): VerifiedDelivery => ({ ci: 'github', id, event: 'workflow_job', body: '{}' });

  it('names only the messages whose handling failed, and waits for the work the batch started', async () => {
    const handled: string[] = [];
    let idleAfter: string[] | undefined;
    const event: SQSEvent = {
      Records: [
        record('m-1', encodeDelivery(delivery('d-1'))),
        record('m-2', encodeDelivery(delivery('d-fails'))),
        record('m-3', 'not a message fleetbot wrote'),
        record('m-4', encodeDelivery(delivery('d-4'))),
      ],
    };
    const app = {
      replay: async ({ id }: VerifiedDelivery) => {
        if (id === 'd-fails') throw new Error('GitHub answered 502');
        handled.push(id!);
      },
      idle: async () => void (idleAfter = [...handled]),
    };

    const response = await handleSqsBatch(event, app, log);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }, { itemIdentifier: 'm-3' }] });
    expect(handled).toEqual(['d-1', 'd-4']);
    expect(idleAfter).toEqual(['d-1', 'd-4']);
  });
});
