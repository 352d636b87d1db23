import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type AppUnderTest } from '../helpers/app-harness.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { fargateRequest, FLEETS_REPO, issueOpsSettingsFor } from '../helpers/issueops.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { issuesEvent } from '../helpers/webhook-events.js';

/**
 * GitHub keeps a delivery's GUID when it delivers it again (delivery recovery asks it to), so IssueOps
 * handles each GUID once: a redelivered issue or command must not run twice.
 */
describeWithMoto('IssueOps and a delivery made again', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let app: AppUnderTest;
  const repo = `${FLEETS_REPO}-redelivered`;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    github.createRepo(repo, { files: { 'README.md': '# fleets\n' } });
    const settings = issueOpsSettingsFor(moto, mkdtempSync(join(tmpdir(), 'fleetbot-tf-')), { repository: repo });
    app = await startApp({ moto, github, fleets: [], issueOps: { ...settings, terraform: { ...settings.terraform, binary: 'false' } } });
  });
  afterAll(async () => {
    await app?.close();
    await github?.close();
    await moto?.stop();
  });

  async function receive(id: string, payload: unknown): Promise<void> {
    await app.probot.receive({ id, name: 'issues', payload } as never);
    await app.fleetbot.idle();
  }

  it('ignores a delivery whose GUID it has handled, and handles a new GUID with the same payload', async () => {
    const number = github.createIssue(repo, {
      title: 'Fleet request',
      body: fargateRequest('again', 'subnet-nope'),
      labels: ['fleet-request'],
      user: 'dana',
    });
    const { payload } = issuesEvent(github, repo, number, 'edited');

    await receive('guid-1', payload);
    const afterFirst = github.requests.length;
    expect(afterFirst).toBeGreaterThan(0);

    await receive('guid-1', payload);
    expect(github.requests.length).toBe(afterFirst);
    expect(app.logs.some((line) => line.includes('"deliveryId":"guid-1"') && line.includes('delivery already handled'))).toBe(true);

    await receive('guid-2', payload);
    expect(github.requests.length).toBeGreaterThan(afterFirst);
  });
});
