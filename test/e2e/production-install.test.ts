import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunnerInfra, ecsCompute, fleetbotTasks, type RunnerInfra, tagOf } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, sign } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { issueOpsSettingsFor } from '../helpers/issueops.js';
import { describeWithMoto, freePort, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';

/**
 * The job path as a production install runs it: `npm ci --omit=dev --omit=optional` in a directory of
 * its own, the compiled dist/ copied in (what images/fleetbot/Dockerfile does without ISSUEOPS), and
 * `node dist/src/main.js`. better-sqlite3 builds from source (about 80 s on two cores): that is this
 * file's cost, paid once. Outside CI, FLEETBOT_SKIP_INSTALL_TEST=1 skips it; under CI=true it always runs.
 */

const INSTALL_TIMEOUT_MS = 6 * 60_000;
const JOB_PATH_INSTALL = ['ci', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund', '--prefer-offline'];
// What the job path must not carry: CDKTF (IssueOps only) and the build and test tools.
const NOT_INSTALLED = ['cdktf', '@cdktf', 'constructs', 'typescript', 'jest', 'ts-jest', '@types'];
// The job path measured 183 MB in December 2026; CDKTF alone would add about 380 MB.
const MAX_NODE_MODULES_MB = 250;

const skipped = process.env.CI !== 'true' && process.env.FLEETBOT_SKIP_INSTALL_TEST === '1';
if (skipped) console.warn('\n*** SKIPPED the production install test: FLEETBOT_SKIP_INSTALL_TEST=1 (it always runs under CI=true) ***\n');

/** The environment a child npm or app gets: ours, without what `npx jest` set for itself. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('npm_') && name !== 'NODE_OPTIONS' && name !== 'INIT_CWD'),
  );
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string | undefined>,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

interface InstalledApp {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `node dist/src/main.js` from the install directory, answering /ping. */
async function startInstalledApp(dir: string, env: Record<string, string>): Promise<InstalledApp> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: dir,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${url}/ping`).then(
      (response) => response.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null) throw new Error(`the installed app exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the installed app did not answer /ping within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, output: () => output, stop };
}

(skipped ? describe.skip : describeWithMoto)('a production install of the job path (npm ci --omit=dev --omit=optional)', () => {
  let dir: string;
  let install: { code: number | null; output: string; seconds: number; megabytes: number };
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;

  beforeAll(async () => {
    if (!existsSync('dist/src/main.js')) throw new Error('dist/src/main.js is missing: run "npm run build" first (npm test does)');
    dir = mkdtempSync(join(tmpdir(), 'fleetbot-production-'));
    for (const file of ['package.json', 'package-lock.json']) cpSync(file, join(dir, file));
    const started = Date.now();
    const result = await run('npm', JOB_PATH_INSTALL, dir, cleanEnvironment(), INSTALL_TIMEOUT_MS - 30_000);
    const du = await run('du', ['-sk', 'node_modules'], dir, cleanEnvironment(), 60_000);
    install = { ...result, seconds: (Date.now() - started) / 1000, megabytes: Math.round(Number.parseInt(du.output, 10) / 1024) };
    console.info(
      `npm ${JOB_PATH_INSTALL.join(' ')}: exit ${install.code} in ${install.seconds.toFixed(0)} s; node_modules ${install.megabytes} MB`,
    );
    // What the image copies besides node_modules: the compiled app (dist/cdktf's outputs.js is pure;
    // its synth.js is loaded only for IssueOps) and the files it reads at run time.
    for (const path of ['dist/src', 'dist/cdktf', 'app.yml', 'issue-templates']) cpSync(path, join(dir, path), { recursive: true });
    moto = await startMoto();
    await moto.holdEcsTasksRunning();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    await github?.close();
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs with exit 0, no engine warning, and no CDKTF, TypeScript or Jest', () => {
    expect(install.output).not.toMatch(/EBADENGINE/);
    expect({ code: install.code, tail: install.code === 0 ? '' : install.output.slice(-2000) }).toEqual({ code: 0, tail: '' });
    expect(NOT_INSTALLED.filter((name) => existsSync(join(dir, 'node_modules', name)))).toEqual([]);
    expect(existsSync(join(dir, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    expect(install.megabytes).toBeLessThan(MAX_NODE_MODULES_MB);
  });

  it('answers /ping and launches a task for a signed queued workflow_job', async () => {
    const env = appEnvironment(moto, github, [
      {
        name: 'linux-small',
        labels: ['self-hosted', 'linux', 'small'],
        maxRunners: 2,
        compute: ecsCompute(infra),
      },
    ]);
    const app = await startInstalledApp(dir, env);
    try {
      const ping = await fetch(`${app.url}/ping`);
      expect(await ping.text()).toBe('PONG');

      const body = JSON.stringify(queuedJob({ jobId: 71, org: 'acme' }));
      const response = await fetch(`${app.url}/api/github/webhooks`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'workflow_job',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': sign(body),
        },
        body,
      });
      expect(response.status).toBe(200);
      const task = await eventually('a task for job 71', async () =>
        (await fleetbotTasks(moto, infra.cluster)).find((candidate) => tagOf(candidate, 'fleetbot:job') === '71'),
      );
      expect(tagOf(task, 'fleetbot:fleet')).toBe('linux-small');
    } finally {
      await app.stop();
    }
    expect(app.output()).not.toMatch(/cdktf/i);
  });

  it('refuses to start with IssueOps configured, naming the packages to install', async () => {
    const env = appEnvironment(moto, github, [], {}, issueOpsSettingsFor(moto, join(dir, 'data', 'terraform')));
    const result = await run(process.execPath, ['dist/src/main.js'], dir, env, 30_000);
    expect(result.code).toBe(1);
    expect(result.output).toContain('IssueOps is configured');
    expect(result.output).toContain("Cannot find package 'cdktf'");
    expect(result.output).toContain('cdktf, @cdktf/provider-aws, constructs');
    expect(result.output).toContain('--build-arg ISSUEOPS=true');
  });
});
