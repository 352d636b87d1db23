/**
 * Errors as log fields: which remote call failed, with what HTTP status and request id, or why no
 * answer came at all. Every log line that carries an error goes through `errorFields`, and so does
 * every error Probot logs (it is the logger's `err` serializer, see log.ts).
 */

export interface ErrorFields {
  name: string;
  message: string;
  /** The remote call: `ecs:RunTask` (the IAM action), `POST /api/v3/orgs/acme/actions/runners/generate-jitconfig`. */
  operation?: string;
  /** The HTTP status of the answer; absent when no answer came (then `code` says why). */
  status?: number;
  /** The id the service gave its answer: what AWS or GitHub support ask for. */
  requestId?: string;
  /** Why no answer came: ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ... */
  code?: string;
  /** An AggregateError's first errors. */
  errors?: ErrorFields[];
  /** Where a bug (TypeError, ReferenceError, RangeError) was thrown: its first frames. */
  stack?: string;
}

// Kept beside the error rather than on it: SDK errors are not ours to add properties to.
const operations = new WeakMap<object, string>();

/** Names the remote call an error came from; the first name given wins (the innermost call). */
export function recordOperation(error: unknown, operation: string): void {
  if (typeof error === 'object' && error !== null && !operations.has(error)) operations.set(error, operation);
}

/** True for errors of any realm, subclasses included (jest runs tests in their own realm). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

const BUG_TYPES = new Set(['TypeError', 'ReferenceError', 'RangeError']);
const MAX_NESTED_ERRORS = 5;
const STACK_FRAMES = 3;

/**
 * Error fields safe to log: never the request or response objects (they carry credentials and whole
 * webhook payloads), only what identifies the call and its outcome.
 */
export function errorFields(error: unknown): ErrorFields {
  if (!isError(error)) return { name: 'Error', message: String(error) };
  const fields: ErrorFields = { name: error.name, message: error.message };
  const operation = operations.get(error);
  if (operation) fields.operation = operation;
  Object.assign(fields, awsFields(error) ?? octokitFields(error) ?? otherFields(error));
  const nested = (error as { errors?: unknown }).errors;
  if (error.name === 'AggregateError' && Array.isArray(nested) && nested.length > 0) {
    fields.errors = nested.slice(0, MAX_NESTED_ERRORS).map(errorFields);
  }
  if (BUG_TYPES.has(error.name) && !fields.operation && fields.status === undefined && !fields.code && error.stack) {
    const frames = error.stack.split('\n').filter((line) => line.trimStart().startsWith('at '));
    if (frames.length > 0)
      fields.stack = frames
        .slice(0, STACK_FRAMES)
        .map((frame) => frame.trim())
        .join('\n');
  }
  return fields;
}

interface AwsError {
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** AWS SDK v3: `$metadata` on every error; `$response` too when the answer could not be read. */
function awsFields(error: Error): Partial<ErrorFields> | undefined {
  const { $metadata, $response } = error as AwsError;
  if (typeof $metadata !== 'object' || $metadata === null) return undefined;
  const status = $metadata.httpStatusCode ?? $response?.statusCode;
  const headers = $response?.headers ?? {};
  const requestId = $metadata.requestId ?? headers['x-amzn-requestid'] ?? headers['x-amz-request-id'];
  const fields: Partial<ErrorFields> = {};
  if (typeof status === 'number') fields.status = status;
  if (requestId) fields.requestId = requestId;
  // A body the SDK could not parse (an HTML error page from a proxy or an emulator): its parser's
  // message says only "Unexpected token '<'", and the advice after it is for debuggers, not logs.
  if (error.message.includes('Deserialization error')) {
    const contentType = headers['content-type']?.split(';')[0];
    const parserMessage = error.message.split('\n')[0];
    fields.message = `the answer${contentType ? ` (${contentType})` : ''} is not one the SDK can read: ${parserMessage}`;
  }
  if (status === undefined) Object.assign(fields, networkFields(error));
  return fields;
}

interface OctokitError {
  status?: unknown;
  request?: { method?: unknown; url?: unknown };
  response?: { headers?: Record<string, string | undefined> };
}

/**
 * Octokit's RequestError. When fetch itself failed (DNS, refused connection, timeout) Octokit still
 * says status 500 and has no response: that status is dropped and the network error's code given.
 */
function octokitFields(error: Error): Partial<ErrorFields> | undefined {
  const { status, request, response } = error as OctokitError;
  if (typeof status !== 'number' || typeof request?.method !== 'string' || typeof request.url !== 'string') return undefined;
  const fields: Partial<ErrorFields> = { operation: `${request.method} ${pathOf(request.url)}` };
  if (response) {
    fields.status = status;
    const requestId = response.headers?.['x-github-request-id'];
    if (requestId) fields.requestId = requestId;
  } else {
    Object.assign(fields, networkFields(error));
  }
  return fields;
}

function otherFields(error: Error): Partial<ErrorFields> {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? { status } : networkFields(error);
}

/** The node error behind a failed request, itself or in its `cause` chain: its code and message. */
function networkFields(error: Error): Partial<ErrorFields> {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && isError(current); depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return { code, message: current.message || error.message };
    current = (current as { cause?: unknown }).cause;
  }
  return {};
}

/** The path of a URL without its query (which could carry anything), or the text itself if it is no URL. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0];
  }
}
