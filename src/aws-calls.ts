import { recordOperation } from './errors.js';

/**
 * How every AWS client of fleetbot calls AWS, apart from aws.ts so that a Lambda function can make only
 * the clients it needs (each SDK client costs 150–300 ms to load).
 *
 * Adaptive retry: a burst of jobs turns into a burst of RunTask/PutParameter calls, and AWS throttles
 * those per account; adaptive mode backs off on throttling and 5xx and also slows the client's own
 * send rate, instead of hammering with the standard mode's fixed attempts.
 */
export const AWS_RETRY = { retryMode: 'adaptive', maxAttempts: 6 } as const;

type Handler = (args: unknown) => Promise<unknown>;
interface InitializeStack {
  add(middleware: (next: Handler, context: { commandName?: string }) => Handler, options: { step: 'initialize'; name: string }): void;
}

/**
 * An SDK error says what went wrong but not in which call: this names the call on every error a
 * client throws, as its IAM action (`ecs:RunTask`, `ssm:PutParameter`), for errorFields to log. The
 * initialize step wraps the SDK's retries, so it sees only the error of the last attempt.
 */
export function nameFailedOperations<Client extends { middlewareStack: object }>(client: Client, service: string): Client {
  (client.middlewareStack as InitializeStack).add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        recordOperation(error, `${service}:${(context.commandName ?? 'unknown').replace(/Command$/, '')}`);
        throw error;
      }
    },
    { step: 'initialize', name: 'fleetbotNameFailedOperations' },
  );
  return client;
}
