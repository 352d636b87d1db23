import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DescribeTasksCommand, ECSClient, type Task } from '@aws-sdk/client-ecs';
import { packageRoot } from '../../src/package-root.js';
import { describeWithMoto } from '../helpers/moto.js';

/** `npm run sandbox` as a user runs it (after the build, which `npm test` does): its output is the specification. */

const RUN = join(packageRoot(), 'dist/sandbox/run.js');

interface SandboxRun {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match in the output so far or to come; rejects if the sandbox exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: SandboxRun[] = [];

function startSandbox(args: string[]): SandboxRun {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const run: SandboxRun = {
    child,
    exited,
    output: () => output,
    waitFor: async (pattern, timeoutMs = 40_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (done) throw new Error(`the sandbox exited without printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`the sandbox did not print ${pattern} within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  runs.push(run);
  return run;
}

/** Every process below `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name, in parentheses, may hold spaces: fields after it are fixed.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // It exited while we looked.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function portOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function taskIn(motoUrl: string, taskArn: string): Promise<Task | undefined> {
  const ecs = new ECSClient({
    endpoint: motoUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster: 'runners', tasks: [taskArn], include: ['TAGS'] }));
  ecs.destroy();
  return tasks?.[0];
}

const tagsOf = (task: Task | undefined) => Object.fromEntries((task?.tags ?? []).map((tag) => [tag.key, tag.value]));

const sandboxDirs = () => new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('fleetbot-sandbox-')));

// The fake GitHub's JIT configs are base64 of "jit-runner-…": none may reach the terminal.
const JIT_CONFIG_PREFIX = Buffer.from('jit-runner-').toString('base64').slice(0, 12);

afterEach(async () => {
  // A failed test must not leave a sandbox (and its moto_server and app) behind.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  }
});

describeWithMoto('npm run sandbox', () => {
  it('runs three jobs through the real app against moto, narrates each step, and stops everything it started', async () => {
    const before = sandboxDirs();
    const run = startSandbox([]);
    const [, motoUrl] = await run.waitFor(/^moto_server \(AWS\) on (\S+)$/m);
    const [, appUrl] = await run.waitFor(/^fleetbot \(node dist\/src\/main\.js, pid \d+\) on (\S+), logging to (\S+)$/m);
    const [, taskArn, runnerName] = await run.waitFor(
      /^2\. ECS task (arn:\S+) launched in cluster runners \(capacity provider FARGATE_SPOT\), tags fleetbot:fleet=linux-small, fleetbot:job=1001, fleetbot:runner=(linux-small-1001-\w+)$/m,
    );
    const started = descendants(run.child.pid!);
    // The task is in moto as printed (the sandbox may already have completed its job: it does not wait for us).
    const launched = await taskIn(motoUrl, taskArn);
    expect(launched?.startedBy).toBe('fleetbot');
    expect(tagsOf(launched)).toMatchObject({ 'fleetbot:fleet': 'linux-small', 'fleetbot:job': '1001', 'fleetbot:runner': runnerName });

    const { code } = await run.exited;
    const output = run.output();
    expect(code).toBe(0);
    for (const job of [1001, 1002, 1003]) {
      expect(output).toMatch(new RegExp(`^1\\. job ${job} queued \\(labels self-hosted, linux, small\\) → fleet linux-small$`, 'm'));
      expect(output).toMatch(
        new RegExp(
          `^2\\. ECS task arn:aws:ecs:\\S+ launched in cluster runners \\(capacity provider FARGATE_SPOT\\), tags .*fleetbot:job=${job}`,
          'm',
        ),
      );
      expect(output).toMatch(
        new RegExp(
          `^3\\. runner credential in SSM: /fleetbot/runners/linux-small/linux-small-${job}-\\w+ \\(SecureString, JIT config from POST /orgs/acme/actions/runners/generate-jitconfig\\)$`,
          'm',
        ),
      );
      expect(output).toMatch(
        new RegExp(`^4\\. job ${job} completed → task stopped \\(STOPPED, reason "[^"]+"\\), credential deleted$`, 'm'),
      );
    }
    expect(output).toMatch(
      /^Summary: 3 jobs sent \(6 signed webhooks\), 3 tasks launched, 3 stopped, 0 credentials left in SSM, first task launched [\d.]+ s after start; [\d.]+ s in all$/m,
    );
    expect(output).not.toContain(JIT_CONFIG_PREFIX);

    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(started.filter(running)).toEqual([]);
    expect(await portOpen(motoUrl)).toBe(false);
    expect(await portOpen(appUrl)).toBe(false);
    // Only the folder with the app's log stays, the one it printed.
    const [, kept] = /stay in (\S+)$/m.exec(output)!;
    expect([...sandboxDirs()].filter((name) => !before.has(name)).map((name) => join(tmpdir(), name))).toEqual([kept]);
    expect(readFileSync(join(kept, 'app.log'), 'utf8')).toContain('runner launched');
    // The fleets file the app ran is the example, bar the subnet and security group made in moto.
    const example = readFileSync(join(packageRoot(), 'fleetbot.example.yml'), 'utf8');
    const withIds = (text: string) => text.replace(/subnet-[0-9a-f]+/g, 'subnet-…').replace(/sg-[0-9a-f]+/g, 'sg-…');
    const ran = readFileSync(join(kept, 'fleetbot.yml'), 'utf8');
    expect(withIds(ran)).toBe(withIds(example));
    expect(ran).not.toContain('subnet-0123456789abcdef0');
    rmSync(kept, { recursive: true, force: true });
  }, 60_000);

  it("with --keep stays up: the demo's tasks are stopped in moto, the printed curl command launches another; Ctrl-C stops everything", async () => {
    const run = startSandbox(['--keep']);
    const [, motoUrl] = await run.waitFor(/^moto_server \(AWS\) on (\S+)$/m);
    const [, appUrl] = await run.waitFor(/^fleetbot \(node dist\/src\/main\.js, pid \d+\) on (\S+),/m);
    const [command] = await run.waitFor(/^curl [\s\S]*?--data-binary @'[^']+'$/m);
    const started = descendants(run.child.pid!);

    const sent = spawnSync('bash', ['-c', command], { encoding: 'utf8', timeout: 10_000 });
    expect(sent.stderr).toBe('');
    expect(['200', '202']).toContain(sent.stdout.trim());
    const [, taskArn] = await run.waitFor(
      /^2\. ECS task (arn:\S+) launched in cluster runners \(capacity provider FARGATE_SPOT\), tags .*fleetbot:job=2001/m,
    );
    const launched = await taskIn(motoUrl, taskArn);
    expect(launched?.lastStatus).toBe('RUNNING');
    expect(tagsOf(launched)['fleetbot:job']).toBe('2001');
    // The demo's tasks, as printed, were stopped in moto.
    const demoTasks = [...run.output().matchAll(/^2\. ECS task (arn:\S+) launched .*fleetbot:job=100\d/gm)].map((match) => match[1]);
    expect(demoTasks).toHaveLength(3);
    for (const arn of demoTasks) expect((await taskIn(motoUrl, arn))?.lastStatus).toBe('STOPPED');

    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.output()).toMatch(/^SIGINT: stopping the app, the GitHub stand-in and moto_server$/m);
    expect(await portOpen(motoUrl)).toBe(false);
    expect(await portOpen(appUrl)).toBe(false);
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(started.filter(running)).toEqual([]);
    rmSync(/stay in (\S+)$/m.exec(run.output())![1], { recursive: true, force: true });
  }, 60_000);
});

describe('npm run sandbox refuses to start without what it needs', () => {
  it('exits 1 naming moto_server when it is not on PATH', () => {
    const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => !existsSync(join(dir, 'moto_server')));
    const result = spawnSync(process.execPath, [RUN], { encoding: 'utf8', env: { ...process.env, PATH: path.join(delimiter) } });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('sandbox: moto_server is not on PATH');
    expect(result.stdout).toBe('');
  });

  it('exits 1 saying to build when the build is missing', () => {
    // A checkout where only the entry was built.
    const root = mkdtempSync(join(tmpdir(), 'fleetbot-unbuilt-'));
    mkdirSync(join(root, 'dist', 'sandbox'), { recursive: true });
    copyFileSync(RUN, join(root, 'dist', 'sandbox', 'run.js'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    const result = spawnSync(process.execPath, [join(root, 'dist', 'sandbox', 'run.js')], { encoding: 'utf8' });
    rmSync(root, { recursive: true, force: true });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^sandbox: the build is missing \(no dist\/src\/main\.js, .*\): run `npm run build` first/);
  });
});
