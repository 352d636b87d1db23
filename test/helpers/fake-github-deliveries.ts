import { createHmac, randomUUID } from 'node:crypto';
import { apiError } from './fake-github-repos.js';
import type { Route } from './fake-github.js';

/**
 * The fake GitHub's log of the App's webhook deliveries, behind the three deliveries endpoints, shaped as
 * GitHub documents them: newest first, cursor pagination through the `Link` header, `guid`,
 * `redelivery`, `status_code`. A redelivery POSTs the signed payload to the App's webhook URL, as GitHub
 * does; until the fake is told that URL (`setWebhookTarget`) it holds redeliveries back.
 */
export interface FakeHookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  throttled_at: string | null;
  payload: unknown;
}

export interface RecordDeliveryOptions {
  /** 0 (no answer) by default: the app was down. */
  statusCode?: number;
  /** A new GUID by default; the same GUID records another attempt of one delivery. */
  guid?: string;
  redelivery?: boolean;
  deliveredAt?: Date;
}

export interface FakeDeliveriesApi {
  /** Records a delivery GitHub made (by default one that failed: status 0); returns it. */
  recordDelivery(event: string, payload: unknown, options?: RecordDeliveryOptions): FakeHookDelivery;
  /** Every delivery recorded or made, oldest first. */
  hookDeliveries(): FakeHookDelivery[];
  /** The App's webhook URL and secret: redeliveries go there, held ones at once. */
  setWebhookTarget(url: string, secret: string): void;
  /** Resolves when no redelivery is being made. */
  redeliveriesSettled(): Promise<void>;
}

/** GitHub writes timestamps to the second. */
function githubTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function statusText(code: number): string {
  if (code === 0) return 'failed to connect to host';
  return code < 400 ? 'OK' : `Invalid HTTP Response: ${code}`;
}

export function fakeDeliveries(apiUrl: () => string): { api: FakeDeliveriesApi; routes: Route[] } {
  const deliveries: FakeHookDelivery[] = [];
  let lastId = 1_000;
  let target: { url: string; secret: string } | undefined;
  const held: FakeHookDelivery[] = [];
  const inFlight = new Set<Promise<void>>();

  function record(event: string, payload: unknown, options: RecordDeliveryOptions = {}): FakeHookDelivery {
    const statusCode = options.statusCode ?? 0;
    const body = (typeof payload === 'object' && payload !== null ? payload : {}) as {
      action?: unknown;
      installation?: { id?: unknown };
      repository?: { id?: unknown };
    };
    const delivery: FakeHookDelivery = {
      id: ++lastId,
      guid: options.guid ?? randomUUID(),
      delivered_at: githubTime(options.deliveredAt ?? new Date()),
      redelivery: options.redelivery ?? false,
      duration: 0.03,
      status: statusText(statusCode),
      status_code: statusCode,
      event,
      action: typeof body.action === 'string' ? body.action : null,
      installation_id: typeof body.installation?.id === 'number' ? body.installation.id : null,
      repository_id: typeof body.repository?.id === 'number' ? body.repository.id : null,
      throttled_at: null,
      payload,
    };
    deliveries.push(delivery);
    return delivery;
  }

  const item = ({ payload: _payload, ...rest }: FakeHookDelivery) => rest;

  async function redeliver(original: FakeHookDelivery, to: { url: string; secret: string }): Promise<void> {
    const body = JSON.stringify(original.payload);
    let statusCode = 0;
    try {
      const response = await fetch(to.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/fake',
          'x-github-event': original.event,
          'x-github-delivery': original.guid,
          'x-hub-signature-256': `sha256=${createHmac('sha256', to.secret).update(body).digest('hex')}`,
        },
        body,
      });
      await response.arrayBuffer();
      statusCode = response.status;
    } catch {
      statusCode = 0;
    }
    record(original.event, original.payload, { guid: original.guid, redelivery: true, statusCode });
  }

  function send(original: FakeHookDelivery): void {
    if (!target) {
      held.push(original);
      return;
    }
    const sending = redeliver(original, target).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/app\/hook\/deliveries$/,
      handle(_params, _body, request) {
        const perPage = Math.min(100, Number(request.query.get('per_page') ?? 30));
        const cursor = request.query.get('cursor');
        // Newest first; the cursor names the first delivery of its page.
        const newestFirst = [...deliveries].reverse();
        const start = cursor ? newestFirst.findIndex((delivery) => `v1_${delivery.id}` === cursor) : 0;
        if (start < 0) return apiError(422, 'Invalid cursor');
        const page = newestFirst.slice(start, start + perPage);
        const next = newestFirst[start + perPage];
        const headers: Record<string, string> = next
          ? { link: `<${apiUrl()}/app/hook/deliveries?per_page=${perPage}&cursor=v1_${next.id}>; rel="next"` }
          : {};
        return { status: 200, body: page.map(item), headers };
      },
    },
    {
      method: 'GET',
      pattern: /^\/app\/hook\/deliveries\/(\d+)$/,
      handle([id]) {
        const delivery = deliveries.find((candidate) => candidate.id === Number(id));
        if (!delivery) return apiError(404, 'Not Found');
        return {
          status: 200,
          body: {
            ...item(delivery),
            url: '',
            request: { headers: { 'X-GitHub-Event': delivery.event, 'X-GitHub-Delivery': delivery.guid }, payload: delivery.payload },
            response: { headers: {}, payload: null },
          },
        };
      },
    },
    {
      method: 'POST',
      pattern: /^\/app\/hook\/deliveries\/(\d+)\/attempts$/,
      handle([id]) {
        const delivery = deliveries.find((candidate) => candidate.id === Number(id));
        if (!delivery) return apiError(404, 'Not Found');
        send(delivery);
        return { status: 202, body: {} };
      },
    },
  ];

  return {
    routes,
    api: {
      recordDelivery: record,
      hookDeliveries: () => deliveries.map((delivery) => ({ ...delivery })),
      setWebhookTarget(url, secret) {
        target = { url, secret };
        for (const delivery of held.splice(0)) send(delivery);
      },
      redeliveriesSettled: async () => {
        while (inFlight.size > 0) await Promise.all(inFlight);
      },
    },
  };
}
