import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An agent of a resource class, as GET /api/v3/runner lists it. */
export interface FakeAgent {
  name: string;
  /** ISO time of the agent's first connection. */
  firstConnected: string;
  /** ISO time of the agent's last task; absent if it never took one. */
  lastUsed?: string;
}

interface ResourceClassState {
  unclaimed: number;
  agents: FakeAgent[];
}

export interface RecordedRequest {
  path: string;
  resourceClass: string | null;
  token: string | undefined;
}

/**
 * CircleCI's self-hosted runner API on a local port, answering with bodies shaped as its documentation
 * shows them. Only `validTokens` are accepted; `failNext` makes the next requests fail with given statuses.
 */
export class FakeCircleCi {
  readonly requests: RecordedRequest[] = [];
  readonly validTokens = new Set<string>();
  private readonly classes = new Map<string, ResourceClassState>();
  private readonly failures: number[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => this.answer(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  setUnclaimed(resourceClass: string, count: number): void {
    this.state(resourceClass).unclaimed = count;
  }

  /** An agent connected and took a task: one fewer unclaimed, and the agent lists a last use. */
  agentClaims(resourceClass: string, name: string, at: Date = new Date()): void {
    const state = this.state(resourceClass);
    state.unclaimed = Math.max(0, state.unclaimed - 1);
    const connected = state.agents.find((agent) => agent.name === name);
    state.agents = state.agents.filter((agent) => agent.name !== name);
    const firstConnected = connected?.firstConnected ?? new Date(at.getTime() - 1000).toISOString();
    state.agents.push({ name, firstConnected, lastUsed: at.toISOString() });
  }

  /** An agent connected and waits for a task. */
  agentConnects(resourceClass: string, name: string, at: Date = new Date()): void {
    this.state(resourceClass).agents.push({ name, firstConnected: at.toISOString() });
  }

  failNext(...statuses: number[]): void {
    this.failures.push(...statuses);
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  private state(resourceClass: string): ResourceClassState {
    let state = this.classes.get(resourceClass);
    if (!state) {
      state = { unclaimed: 0, agents: [] };
      this.classes.set(resourceClass, state);
    }
    return state;
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.url);
    const resourceClass = url.searchParams.get('resource-class');
    const token = request.headers['circle-token'] as string | undefined;
    this.requests.push({ path: url.pathname, resourceClass, token });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    const failure = this.failures.shift();
    if (failure !== undefined) {
      send(failure, { message: 'Service Unavailable' }, failure === 429 ? { 'retry-after': '0' } : {});
      return;
    }
    if (!token || !this.validTokens.has(token)) {
      send(401, { message: 'You must log in first.' });
      return;
    }
    if (!resourceClass) {
      send(400, { message: 'resource-class or namespace is required' });
      return;
    }
    const state = this.state(resourceClass);
    if (request.method === 'GET' && url.pathname === '/api/v3/runner/tasks') {
      send(200, { unclaimed_task_count: state.unclaimed });
    } else if (request.method === 'GET' && url.pathname === '/api/v3/runner') {
      send(200, {
        items: state.agents.map((agent) => ({
          resource_class: resourceClass,
          hostname: `ip-10-0-1-${agent.name.length}`,
          name: agent.name,
          first_connected: agent.firstConnected,
          last_connected: new Date().toISOString(),
          ...(agent.lastUsed ? { last_used: agent.lastUsed } : {}),
          version: '3.0.27-3ac9b27',
        })),
      });
    } else {
      send(404, { message: 'Not Found' });
    }
  }
}
