import { Transform } from 'node:stream';
import pino, { type DestinationStream, type LevelWithSilent, type Logger as PinoLogger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { createProbot, type Logger } from 'probot';
import { errorFields, isError } from './errors.js';

/**
 * Probot's access log records every request's headers and every response's: GitLab sends its webhook
 * secret as one (X-Gitlab-Token), the dashboard's callers and /metrics scrapers their token (Authorization) or session cookie,
 * and the dashboard answers with cookies. Those headers are censored in every line.
 */
export const SECRET_HEADER_REDACTION = {
  paths: ['req.headers["x-gitlab-token"]', 'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
  censor: '[redacted]',
};

type LogLevel = NonNullable<NonNullable<Parameters<typeof createProbot>[0]>['overrides']>['logLevel'];

/**
 * The app's logger, configured by Probot's variables: LOG_LEVEL (info), LOG_FORMAT (`pretty`, or
 * `json`: one object a line), LOG_LEVEL_IN_STRING, LOG_MESSAGE_KEY, and SENTRY_DSN, with which
 * lines go through Probot's own stream to reach Sentry.
 *
 * Built here rather than taken from Probot because Probot's pretty format drops the time, its JSON
 * repeats `name` once per child logger, and it logs errors with every property they carry (a
 * webhook's whole payload, three times for one bad signature). Here:
 * - errors are logged as `errorFields` (errors.ts): call, status, request id, never payloads;
 * - no key appears twice in a line: a child's bindings replace its parent's of the same key, and a
 *   call's fields that would repeat a binding (Probot logs GitHub request bodies, `name` included)
 *   are written under `fields`;
 * - the access log skips a request whose outcome was logged in a line of its own (`omitFromAccessLog`).
 */
export async function createAppLog(env: NodeJS.ProcessEnv, destination?: NodeJS.WritableStream): Promise<Logger> {
  const messageKey = env.LOG_MESSAGE_KEY || 'msg';
  const level = (env.LOG_LEVEL || 'info') as LevelWithSilent;
  return pino(
    {
      level,
      messageKey,
      redact: SECRET_HEADER_REDACTION,
      serializers: { err: (value: unknown) => (isError(value) ? errorFields(value) : value) },
      ...(env.LOG_LEVEL_IN_STRING === 'true' ? { formatters: { level: (label: string) => ({ level: label }) } } : {}),
      onChild: replaceRepeatedBindings,
      hooks: { logMethod: writeOnce },
    },
    env.SENTRY_DSN
      ? await probotStream(env, level)
      : env.LOG_FORMAT === 'json'
        ? (destination ?? pino.destination(1))
        : prettyStream(messageKey, destination),
  );
}

/** Human-readable lines, each with its local date and time, and its fields on the same line: one event, one line. */
function prettyStream(messageKey: string, destination?: NodeJS.WritableStream): DestinationStream {
  const pretty = prettyFactory({
    translateTime: 'SYS:standard',
    // The access log's request and response objects would take a dozen lines each.
    ignore: 'pid,hostname,req,res,responseTime',
    messageKey,
    singleLine: true,
    // errorFields' output is plain fields: kept on the line, not spread over lines as a stack trace would be.
    errorLikeObjectKeys: [],
    colorize: destination ? false : undefined,
  });
  // A stream of its own rather than pino-pretty's, which puts `err` back among the error keys.
  const stream = new Transform({
    objectMode: true,
    transform(chunk, _encoding, done) {
      done(null, pretty(String(chunk)));
    },
  });
  // SonicBoom writes as a stream does (Probot pipes into it the same way).
  stream.pipe(destination ?? (pino.destination(1) as unknown as NodeJS.WritableStream));
  return stream;
}

/** Probot's stream, which reports errors to Sentry when SENTRY_DSN is set. */
async function probotStream(env: NodeJS.ProcessEnv, level: LevelWithSilent): Promise<DestinationStream> {
  const probot = createProbot({ env, overrides: { logLevel: level as LogLevel } });
  await probot.ready();
  return (probot.log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
}

/**
 * pino appends a child's bindings to its parent's, so Probot's `name: "probot"` and a child's
 * `name: "fleetbot"` would both be printed. JSON.parse keeps the last of each key.
 */
function replaceRepeatedBindings(child: PinoLogger): void {
  const holder = child as unknown as Record<symbol, string>;
  const written = holder[pino.symbols.chindingsSym];
  if (!written) return;
  const kept = JSON.stringify(JSON.parse(`{${written.slice(1)}}`)).slice(1, -1);
  if (kept.length < written.length - 1) holder[pino.symbols.chindingsSym] = `,${kept}`;
}

const omittedFromAccessLog = new WeakSet<object>();

/** The access log line for this response is not written: its outcome has a line of its own. */
export function omitFromAccessLog(response: object): void {
  omittedFromAccessLog.add(response);
}

/** Skips the access log lines of omitted responses, and keeps a call's fields from repeating a binding. */
function writeOnce(this: PinoLogger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
  const [first, ...rest] = args as unknown[];
  const response = typeof first === 'object' && first !== null ? (first as { res?: unknown }).res : undefined;
  if (typeof response === 'object' && response !== null && omittedFromAccessLog.has(response)) return;
  if (isPlainObject(first) && Object.keys(first).some((key) => keysWrittenBy(this).has(key))) {
    method.apply(this, [{ fields: first }, ...rest] as Parameters<pino.LogFn>);
    return;
  }
  method.apply(this, args);
}

const writtenKeys = new WeakMap<object, Set<string>>();

/** The keys every line of this logger has already: its bindings and pino's own. */
function keysWrittenBy(logger: PinoLogger): Set<string> {
  let keys = writtenKeys.get(logger);
  if (!keys) {
    const chindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
    const messageKey = (logger as unknown as Record<symbol, string>)[pino.symbols.messageKeySym] ?? 'msg';
    keys = new Set(['level', 'time', messageKey, ...Object.keys(JSON.parse(`{${chindings.slice(1)}}`))]);
    writtenKeys.set(logger, keys);
  }
  return keys;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
