import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import {
  DELIVERY_RETENTION_MS,
  needingRecovery,
  octokitDeliveriesApi,
  recoverDeliveries,
  type HookDelivery,
} from '../../../src/ci/github-deliveries.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { testPrivateKey, WEBHOOK_SECRET } from '../../helpers/app-key.js';
import { startFakeGitHub, type FakeGitHub } from '../../helpers/fake-github.js';
import { logLines } from '../../helpers/log-lines.js';
import { queuedJob } from '../../helpers/payloads.js';

function delivery(id: number, guid: string, statusCode: number, event = 'workflow_job'): HookDelivery {
  return { id, guid, delivered_at: '2026-12-05T00:00:00Z', redelivery: false, status_code: statusCode, event, action: 'queued' };
}

describe('which deliveries need recovery', () => {
  it('takes a delivery that got no answer (0) or an error status (4xx, 5xx)', () => {
    const newestFirst = [delivery(3, 'c', 502), delivery(2, 'b', 0), delivery(1, 'a', 400)];
    expect(needingRecovery(newestFirst).map((d) => d.guid)).toEqual(['c', 'b', 'a']);
  });

  it('leaves alone deliveries that succeeded, with any 2xx or 3xx status', () => {
    expect(needingRecovery([delivery(2, 'b', 202), delivery(1, 'a', 200), delivery(0, 'z', 302)])).toEqual([]);
  });

  it('leaves alone a failure that a later attempt with the same guid fixed', () => {
    const newestFirst = [delivery(3, 'a', 200), delivery(2, 'b', 500), delivery(1, 'a', 0)];
    expect(needingRecovery(newestFirst).map((d) => d.id)).toEqual([2]);
  });

  it('takes a guid whose latest attempt failed even after an earlier success, once, as its latest attempt', () => {
    const newestFirst = [delivery(3, 'a', 504), delivery(2, 'a', 0), delivery(1, 'a', 200)];
    expect(needingRecovery(newestFirst).map((d) => d.id)).toEqual([3]);
  });
});

/** The app's webhook URL as GitHub sees it: records what it is sent, answers 200. */
async function webhookReceiver(): Promise<{ url: string; received: { headers: IncomingHttpHeaders; body: string }[]; server: Server }> {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`, received, server };
}

describe('a recovery pass against the deliveries API', () => {
  let github: FakeGitHub;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

  beforeEach(async () => {
    github = await startFakeGitHub();
    receiver = await webhookReceiver();
    github.setWebhookTarget(receiver.url, WEBHOOK_SECRET);
  });
  afterEach(async () => {
    await github.close();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  function setup() {
    const { lines: logs, sink } = logLines();
    const log = pino({ level: 'debug' }, sink);
    const probot = new Probot({
      appId: 1,
      privateKey: testPrivateKey(),
      baseUrl: github.apiUrl,
      log,
      Octokit: ProbotOctokit.defaults((options: any) => ({ ...options, retry: { enabled: false }, throttle: { enabled: false } })),
    });
    const store = new SqliteStore(':memory:');
    const api = octokitDeliveriesApi(() => probot.auth(), { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 });
    const pass = () => recoverDeliveries({ api, deliveries: store.deliveries, log });
    return { logs, store, pass };
  }

  it('reads every page through the Link cursor, as the App, and redelivers each failed delivery once', async () => {
    const lost = github.recordDelivery('workflow_job', queuedJob({ jobId: 1, org: 'acme' }));
    for (let i = 0; i < 230; i++) github.recordDelivery('workflow_job', queuedJob({ jobId: 100 + i, org: 'acme' }), { statusCode: 200 });
    const { logs, pass } = setup();

    const first = await pass();
    await github.redeliveriesSettled();

    expect(first.read).toBe(231);
    expect(first.recovered).toEqual([{ guid: lost.guid, event: 'workflow_job', action: 'queued' }]);
    const listings = github.requestsTo('GET', /^\/app\/hook\/deliveries$/);
    expect(listings.map((request) => request.query.get('cursor'))).toEqual([
      null,
      expect.stringMatching(/^v1_/),
      expect.stringMatching(/^v1_/),
    ]);
    expect(listings.every((request) => request.query.get('per_page') === '100')).toBe(true);
    // App-level: a JWT, not an installation token.
    expect(listings[0].headers.authorization).toMatch(/^bearer eyJ/i);
    expect(github.openApiViolations).toEqual([]);

    // GitHub's redelivery reached the webhook URL signed, with the same GUID.
    expect(receiver.received).toHaveLength(1);
    const [sent] = receiver.received;
    expect(sent.headers['x-github-delivery']).toBe(lost.guid);
    expect(sent.headers['x-github-event']).toBe('workflow_job');
    expect(sent.headers['x-hub-signature-256']).toBe(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(sent.body).digest('hex')}`);
    expect(github.hookDeliveries().at(-1)).toMatchObject({ guid: lost.guid, redelivery: true, status_code: 200 });
    expect(logs.filter((line) => line.includes('asked GitHub to redeliver'))).toHaveLength(1);

    const second = await pass();
    expect(second.recovered).toEqual([]);
    expect(receiver.received).toHaveLength(1);
  });

  it('reads back only to the watermark on the next pass', async () => {
    const tenMinutesAgo = new Date(Date.now() - 600_000);
    for (let i = 0; i < 150; i++) {
      github.recordDelivery('workflow_job', queuedJob({ jobId: i, org: 'acme' }), { statusCode: 200, deliveredAt: tenMinutesAgo });
    }
    const { pass } = setup();
    await pass();
    const before = github.requestsTo('GET', /^\/app\/hook\/deliveries$/).length;
    const lost = github.recordDelivery('issue_comment', { action: 'created' }, { statusCode: 502 });

    const next = await pass();
    await github.redeliveriesSettled();

    // The watermark lies a minute back, so the page of newest deliveries is all the second pass reads.
    expect(github.requestsTo('GET', /^\/app\/hook\/deliveries$/).length - before).toBe(1);
    expect(next.recovered.map((recovered) => recovered.guid)).toEqual([lost.guid]);
  });

  it('leaves alone failures already fixed, events the App does not handle, and deliveries older than 3 days', async () => {
    const tooOld = new Date(Date.now() - DELIVERY_RETENTION_MS - 60_000);
    github.recordDelivery('workflow_job', queuedJob({ jobId: 2, org: 'acme' }), { deliveredAt: tooOld });
    const fixed = github.recordDelivery('workflow_job', queuedJob({ jobId: 1, org: 'acme' }));
    github.recordDelivery('workflow_job', queuedJob({ jobId: 1, org: 'acme' }), { guid: fixed.guid, redelivery: true, statusCode: 200 });
    github.recordDelivery('push', { ref: 'refs/heads/main' });
    const { pass } = setup();

    const result = await pass();

    expect(result).toMatchObject({ read: 3, recovered: [] });
    expect(github.requestsTo('POST', /^\/app\/hook\/deliveries\/\d+\/attempts$/)).toEqual([]);
  });

  it('tries again next pass when GitHub refuses a redelivery, and logs nothing for a pass that recovered nothing', async () => {
    const lost = github.recordDelivery('pull_request', { action: 'synchronize' }, { statusCode: 500 });
    github.failNext('POST', /^\/app\/hook\/deliveries\/\d+\/attempts$/, 422);
    const { logs, pass } = setup();

    const refused = await pass();
    expect(refused).toMatchObject({ recovered: [], refused: 1 });

    const retried = await pass();
    await github.redeliveriesSettled();
    expect(retried.recovered.map((recovered) => recovered.guid)).toEqual([lost.guid]);
    expect(receiver.received).toHaveLength(1);

    const quiet = await pass();
    expect(quiet.recovered).toEqual([]);
    expect(logs.filter((line) => line.includes('asked GitHub to redeliver'))).toHaveLength(2);
  });
});
