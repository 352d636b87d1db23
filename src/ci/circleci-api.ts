import { z } from 'zod';
import { sleep, withRetry, type RetryPolicy, type RetryVerdict, type Sleep } from '../retry.js';

/**
 * The two reads of CircleCI's self-hosted runner API (https://circleci.com/docs/runner-api/) that
 * fleetbot needs, authenticated with a personal or project API token in the Circle-Token header.
 */

const unclaimedTasksSchema = z.object({ unclaimed_task_count: z.number().int().min(0) });
const agentsSchema = z.object({
  items: z.array(z.object({ name: z.string(), first_connected: z.string().nullish(), last_used: z.string().nullish() })),
});

/** A runner agent as CircleCI lists it for a resource class. */
export interface CircleCiAgent {
  name: string;
  /** When the agent first connected (epoch ms); undefined if CircleCI does not say. */
  firstConnectedAt: number | undefined;
  /** When the agent last took a task (epoch ms); undefined if never, or unparseable. */
  lastUsedAt: number | undefined;
}

export class CircleCiApiError extends Error {
  override name = 'CircleCiApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Server errors, rate limits (as long as CircleCI asks) and network failures are worth another try; 4xx are not. */
export function classifyCircleCiError(error: unknown): RetryVerdict {
  if (!(error instanceof CircleCiApiError) || error.status === undefined) return { retry: true };
  if (error.status >= 500 || error.status === 429) return { retry: true, afterMs: error.retryAfterMs };
  return { retry: false };
}

const REQUEST_TIMEOUT_MS = 10_000;
const ERROR_MESSAGE_MAX = 200;

export class CircleCiApi {
  constructor(
    private readonly retry: RetryPolicy,
    private readonly fetchFn: typeof fetch = fetch,
    private readonly wait: Sleep = sleep,
  ) {}

  /** Tasks waiting for an agent of the resource class. */
  async unclaimedTaskCount(url: string, token: string, resourceClass: string): Promise<number> {
    const body = await this.get(url, '/api/v3/runner/tasks', token, resourceClass);
    return this.parse(unclaimedTasksSchema, body, '/api/v3/runner/tasks').unclaimed_task_count;
  }

  /** The agents CircleCI knows for the resource class, connected or not. */
  async agents(url: string, token: string, resourceClass: string): Promise<CircleCiAgent[]> {
    const body = await this.get(url, '/api/v3/runner', token, resourceClass);
    return this.parse(agentsSchema, body, '/api/v3/runner').items.map((agent) => ({
      name: agent.name,
      firstConnectedAt: timeOf(agent.first_connected),
      lastUsedAt: timeOf(agent.last_used),
    }));
  }

  private get(url: string, path: string, token: string, resourceClass: string): Promise<unknown> {
    const target = `${url}${path}?${new URLSearchParams({ 'resource-class': resourceClass })}`;
    return withRetry(
      async () => {
        let response: Response;
        try {
          response = await this.fetchFn(target, {
            headers: { 'Circle-Token': token, accept: 'application/json' },
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
        } catch (error) {
          // The cause names the host and the failure, never the request headers.
          throw new CircleCiApiError(`CircleCI GET ${path} failed: ${(error as Error).message}`);
        }
        if (!response.ok) {
          throw new CircleCiApiError(
            `CircleCI GET ${path} answered HTTP ${response.status}${await errorDetail(response)}`,
            response.status,
            retryAfterMs(response.headers.get('retry-after')),
          );
        }
        try {
          return (await response.json()) as unknown;
        } catch {
          throw new CircleCiApiError(`CircleCI GET ${path} answered with a body that is not JSON`);
        }
      },
      this.retry,
      classifyCircleCiError,
      this.wait,
    );
  }

  private parse<T>(schema: z.ZodType<T>, body: unknown, path: string): T {
    const result = schema.safeParse(body);
    // Carries the 200 it came with: asking again would get the same body, so it is not retried.
    if (!result.success) throw new CircleCiApiError(`CircleCI GET ${path} answered with an unexpected body`, 200);
    return result.data;
  }
}

/** CircleCI's error bodies are `{"message": "..."}`; their message helps whoever reads the log. */
async function errorDetail(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { message?: unknown };
    return typeof body.message === 'string' ? `: ${body.message.slice(0, ERROR_MESSAGE_MAX)}` : '';
  } catch {
    return '';
  }
}

function timeOf(text: string | null | undefined): number | undefined {
  const time = text ? Date.parse(text) : Number.NaN;
  return Number.isFinite(time) ? time : undefined;
}

function retryAfterMs(header: string | null): number | undefined {
  const seconds = Number(header);
  return header !== null && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}
