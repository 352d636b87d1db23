import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FleetSpecInput } from '../../src/fleets/spec.js';
import type { IssueOpsSettings } from '../../src/issueops/settings.js';
import { packageRoot } from '../../src/package-root.js';
import { testPrivateKey, WEBHOOK_SECRET } from './app-key.js';
import type { FakeGitHub } from './fake-github.js';
import { freePort, type Moto } from './moto.js';

/** The built app, found from the repository root rather than the working directory (the sandbox may run anywhere). */
export const MAIN = join(packageRoot(), 'dist/src/main.js');

/** The app as a user starts it (`npm start`), on its own port, against moto and the fake GitHub. */
export interface AppProcess {
  url: string;
  pid: number;
  output: () => string;
  /** Posts a webhook signed with the app's secret (or with `signature` when given). */
  post(event: string, payload: unknown, signature?: string | null): Promise<Response>;
  /**
   * Posts an already serialised and signed webhook over a keep-alive connection; resolves to the status.
   * `deliveryId` (X-GitHub-Delivery) is a fresh GUID unless given: the same one twice is one delivery sent twice.
   */
  postPrepared(event: string, body: string, signature: string, deliveryId?: string): Promise<number>;
  stop(): Promise<void>;
  /** The exit code once the app has exited (null while it runs, or when a signal ended it). */
  exitCode(): number | null;
  /** SIGKILL, as a crash or the OOM killer would: no shutdown code runs. Resolves once it has exited. */
  kill(): Promise<void>;
}

export function sign(body: string, secret = WEBHOOK_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** `issueops` goes into the fleets file as its `issueops` section. */
export function appEnvironment(
  moto: Moto,
  github: FakeGitHub,
  fleets: FleetSpecInput[],
  extra: Record<string, string> = {},
  issueops?: IssueOpsSettings,
) {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
  const dir = mkdtempSync(join(tmpdir(), 'fleetbot-app-'));
  writeFileSync(join(dir, 'fleetbot.yml'), stringify(issueops ? { fleets, issueops } : { fleets }));
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    APP_ID: '1',
    PRIVATE_KEY: testPrivateKey(),
    WEBHOOK_SECRET,
    GHE_HOST: github.host,
    GHE_PROTOCOL: 'http',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
    NODE_ENV: 'production',
    FLEETBOT_CONFIG: join(dir, 'fleetbot.yml'),
    FLEETBOT_DB: join(dir, 'data', 'fleetbot.db'),
    ...moto.env,
    ...extra,
  };
}

/** Runs the app to completion and returns its exit code and output (for start-up refusals). */
export function runToExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the app did not exit within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

/**
 * With `logFile`, the app writes its output straight to that file instead of a pipe to this process:
 * a busy reader then cannot stall the app's synchronous log writes (what the benchmark needs).
 */
export async function startAppProcess(
  env: Record<string, string>,
  options: { nodeArgs?: string[]; logFile?: string; cwd?: string } = {},
): Promise<AppProcess> {
  const port = await freePort();
  const logFd = options.logFile ? openSync(options.logFile, 'w') : undefined;
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN], {
    cwd: options.cwd,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
  });
  let piped = '';
  child.stdout?.on('data', (chunk) => (piped += chunk));
  child.stderr?.on('data', (chunk) => (piped += chunk));
  const output = () => (options.logFile ? readFileSync(options.logFile, 'utf8') : piped);
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode}:\n${output()}`);
    const ready = await fetch(`${url}/ping`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`the app did not answer /ping within 20 s:\n${output()}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return {
    url,
    pid: child.pid!,
    output,
    post: (event, payload, signature) => {
      const body = JSON.stringify(payload);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': randomUUID(),
      };
      const chosen = signature === undefined ? sign(body) : signature;
      if (chosen !== null) headers['x-hub-signature-256'] = chosen;
      return fetch(`${url}/api/github/webhooks`, { method: 'POST', headers, body });
    },
    postPrepared: (event, body, signature, deliveryId) =>
      new Promise((resolvePost, reject) => {
        const outgoing = request(
          `${url}/api/github/webhooks`,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'x-github-event': event,
              'x-github-delivery': deliveryId ?? randomUUID(),
              'x-hub-signature-256': signature,
            },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolvePost(response.statusCode ?? 0));
          },
        );
        outgoing.on('error', reject);
        outgoing.end(body);
      }),
    stop: async () => {
      agent.destroy();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGTERM');
      await exited;
    },
    exitCode: () => child.exitCode,
    kill: async () => {
      agent.destroy();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls until `probe` returns a value that is not undefined, or fails with `what`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}
