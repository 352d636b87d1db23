import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRunnerInfra, ecsCompute, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';

const MIB = 1024 * 1024;
// Far above GitHub's 25 MiB: an app that buffered it would grow by at least this much.
const HOSTILE_BYTES = 300 * MIB;

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Streams up to HOSTILE_BYTES of a signed-looking delivery, stopping as soon as the app answers;
 * resolves to the status and the bytes sent. `declared` sends a content-length, otherwise it is chunked.
 */
function postHostileBody(app: AppProcess, declared: boolean): Promise<{ status: number; sent: number }> {
  return new Promise((resolvePost, reject) => {
    let sent = 0;
    let status: number | undefined;
    const outgoing = request(`${app.url}/api/github/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'workflow_job',
        'x-github-delivery': 'hostile-1',
        'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
        ...(declared ? { 'content-length': HOSTILE_BYTES } : {}),
      },
    });
    outgoing.on('response', (response) => {
      status = response.statusCode ?? 0;
      response.resume();
      resolvePost({ status, sent });
    });
    // The app closes the connection after its answer: an error after that is expected.
    outgoing.on('error', (error) => (status === undefined ? setTimeout(() => reject(error), 1_000) : undefined));
    const chunk = Buffer.alloc(MIB, 'a');
    const writeMore = () => {
      while (status === undefined && sent < HOSTILE_BYTES && !outgoing.destroyed) {
        sent += chunk.length;
        if (!outgoing.write(chunk)) return void outgoing.once('drain', writeMore);
      }
      if (sent >= HOSTILE_BYTES && !outgoing.destroyed) outgoing.end();
    };
    // A declared length is judged on the headers alone: the body follows only if the app has not answered.
    outgoing.flushHeaders();
    setTimeout(writeMore, declared ? 500 : 0);
  });
}

describeWithMoto('webhook bodies over GitHub’s 25 MiB limit (the built app)', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let app: AppProcess;
  let refused = 0;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    const fleet = { name: 'linux', labels: ['self-hosted', 'linux'], maxRunners: 1, compute: ecsCompute(infra) };
    app = await startAppProcess(appEnvironment(moto, github, [fleet]));
  });
  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });

  it.each([
    ['a declared content-length', true],
    ['a chunked stream', false],
  ])('answers 413 to %s over the limit without buffering it', async (_what, declared) => {
    const before = rssBytes(app.pid);
    const { status, sent } = await postHostileBody(app, declared);
    const grown = rssBytes(app.pid) - before;
    expect(status).toBe(413);
    // A declared length is refused on the headers, before the body is sent. A stream is refused once 25 MiB
    // are read; Node then discards what still comes until the connection closes (shortly after the answer,
    // so the sender can read it), and a local sender on a loaded machine may push the rest meanwhile
    // (measured in CI): what matters is that none of it is kept.
    if (declared) expect(sent).toBeLessThan(HOSTILE_BYTES);
    // At most the 25 MiB read before the refusal, and its slack; never the body's size.
    expect(grown).toBeLessThan(80 * MIB);
    const refusals = await eventually('the refusal logged', async () => {
      const lines = app
        .output()
        .split('\n')
        .filter((line) => line.includes('refused with 413'));
      return lines.length > refused ? lines : undefined;
    });
    refused = refusals.length;
    expect(refusals.at(-1)!.length).toBeLessThan(400);
    // Still serving.
    expect((await fetch(`${app.url}/ping`)).status).toBe(200);
  });
});
