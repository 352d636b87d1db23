import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startMoto, type Moto } from './moto.js';

/**
 * What the runner image entrypoint tests share: running an entrypoint for real (bash, the aws CLI,
 * moto) with stubs standing in for the runner it starts, and the SSM parameter it reads.
 */

/** images/<image>/entrypoint.sh, run from the repository (it sources images/lib from there). */
export const entrypointOf = (image: string): string => fileURLToPath(new URL(`../../images/${image}/entrypoint.sh`, import.meta.url));

export interface EntrypointResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

export const RUN_TIMEOUT_MS = 25_000;

export interface RunScriptOptions {
  /** Sees the script's stderr so far, each time it grows. */
  onStderr?: (stderr: string) => void;
  /** What the timeout error calls the script. */
  what?: string;
}

/**
 * Runs `bash <script>` (an entrypoint, or a boot script) with this process's environment but
 * AWS_PROFILE, plus `env` (where `undefined` unsets a variable); rejects after RUN_TIMEOUT_MS.
 */
export function runScript(
  script: string,
  env: Record<string, string | undefined>,
  { onStderr, what = 'entrypoint' }: RunScriptOptions = {},
): Promise<EntrypointResult> {
  const started = Date.now();
  const child = spawn('bash', [script], {
    env: { ...process.env, AWS_PROFILE: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onStderr?.(stderr);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} still running after ${RUN_TIMEOUT_MS} ms; stderr so far:\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** A fresh temporary directory holding each of `stubs` (file name to script) as an executable. */
export async function stubDirectory(prefix: string, stubs: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  for (const [file, script] of Object.entries(stubs)) {
    await writeFile(join(dir, file), script);
    await chmod(join(dir, file), 0o755);
  }
  return dir;
}

/** The lines a stub wrote to `path`, or none if it never wrote the file. */
export async function recordedLines(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8')).trimEnd().split('\n');
}

/** `/fleetbot/runners/<fleet>/<fleet>-<now>-<random>`, a runner's parameter name no other test uses. */
export const uniqueParameterName = (fleet: string): string =>
  `/fleetbot/runners/${fleet}/${fleet}-${Date.now()}-${randomBytes(3).toString('hex')}`;

/** Neither output stream holds any of `secrets`. */
export function expectNotLeaked(result: EntrypointResult, ...secrets: string[]): void {
  for (const secret of secrets) {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
}

/** A moto server and an SSM client on it for the whole suite: call inside the describe body. */
export class EntrypointSsm {
  moto!: Moto;
  ssm!: SSMClient;

  static forSuite(): EntrypointSsm {
    const fixture = new EntrypointSsm();
    beforeAll(async () => {
      fixture.moto = await startMoto();
      fixture.ssm = new SSMClient({
        endpoint: fixture.moto.url,
        region: fixture.moto.env.AWS_REGION,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
    });
    afterAll(async () => {
      fixture.ssm?.destroy();
      await fixture.moto?.stop();
    });
    return fixture;
  }

  putConfig(name: string, value: string) {
    return this.ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString' }));
  }

  async parameterExists(name: string): Promise<boolean> {
    try {
      await this.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return true;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return false;
      throw error;
    }
  }
}
