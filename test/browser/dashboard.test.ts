import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { packageRoot } from '../../src/package-root.js';
import { startDashboardApp, type DashboardApp } from '../helpers/web/dashboard-app.js';
import { startFakeGitHubOAuth, type FakeGitHubOAuth } from '../helpers/web/fake-github-oauth.js';
import { FakeOperatorView, fleet, job, runner, waitStats } from '../helpers/web/fake-operator-view.js';
import { describeWithChromium, launchChromium } from './chromium.js';

/** The dashboard in a real headless browser: sign-in through a GitHub stand-in, the fleets table, a drain, a screenshot. */

const SCREENSHOT = join(packageRoot(), 'docs', 'dashboard.png');
/** The app's and the view's clock: a fixed time keeps the screenshot the same from run to run. */
const NOW = Date.UTC(2027, 0, 15, 14, 30);

/** A view with something in every section, for the tests and the README's screenshot. */
function demoView(now: number): FakeOperatorView {
  const fleets = [
    fleet('linux-small', { active: 14, warm: 2, waiting: 0, maxRunners: 20 }),
    fleet('linux-large', { compute: 'ec2', active: 8, warm: 0, waiting: 5, maxRunners: 8, state: 'full' }),
    fleet('gitlab-docker', { ci: 'gitlab', compute: 'asg', active: 1, maxRunners: 10 }),
    fleet('gpu', { compute: 'ec2', maxRunners: 4, drained: true, state: 'drained', waiting: 2 }),
  ];
  const runners = [
    runner('linux-small-9310-a1b2c3', 'linux-small', { ageSeconds: 312 }),
    runner('linux-small-warm-d4e5f6', 'linux-small', { warm: true, ageSeconds: 1400, status: 'running' }),
    runner('linux-large-9302-0f9e8d', 'linux-large', { compute: 'ec2 m7i.2xlarge', spot: false, ageSeconds: 75, status: 'launching' }),
    runner('gitlab-docker-771-77aa11', 'gitlab-docker', { ci: 'gitlab', compute: 'asg', spot: null, ageSeconds: 40 }),
  ];
  const statuses = ['launched', 'completed', 'completed', 'waiting', 'launching', 'completed'] as const;
  const jobs = Array.from({ length: 40 }, (_, index) => {
    const receivedAt = now - index * 45_000 - 30_000;
    const status = statuses[index % statuses.length]!;
    const made = job(String(9340 - index), receivedAt, {
      fleet: fleets[index % 3]!.name,
      ci: index % 3 === 2 ? 'gitlab' : 'github',
      status,
      waitSeconds: 8 + (index % 7) * 9,
    });
    const { timeline } = made;
    timeline.launchedAt = receivedAt + 2_000 + (index % 5) * 4_000;
    timeline.startedAt = timeline.launchedAt + 6_000 + (index % 4) * 9_000;
    timeline.completedAt = timeline.startedAt + 40_000 + (index % 6) * 30_000;
    if (status !== 'completed') Object.assign(made, { costDollars: null });
    if (status !== 'completed') timeline.completedAt = null;
    if (status === 'waiting' || status === 'launching')
      Object.assign(made, { waitSeconds: null, runnerName: status === 'waiting' ? null : made.runnerName });
    if (status === 'waiting' || status === 'launching') timeline.startedAt = null;
    if (status === 'waiting') Object.assign(timeline, { claimedAt: null, launchRequestedAt: null, launchedAt: null });
    if (status === 'launching') timeline.launchedAt = null;
    return made;
  });
  const waits = [waitStats('linux-small', [40, 62, 31, 9, 3, 1, 0, 0]), waitStats('linux-large', [2, 6, 19, 24, 15, 6, 2, 1])];
  const costs = ['2027-01-09', '2027-01-10', '2027-01-11', '2027-01-12', '2027-01-13', '2027-01-14', '2027-01-15'].flatMap((day, index) => [
    { fleet: 'linux-small', day, dollars: 3.1 + index * 0.4 },
    { fleet: 'linux-large', day, dollars: 11.8 - index * 0.9 },
  ]);
  const requests = [
    {
      repo: 'acme/fleets',
      issueNumber: 42,
      issueUrl: 'https://github.com/acme/fleets/issues/42',
      prNumber: 43,
      prUrl: 'https://github.com/acme/fleets/pull/43',
      fleet: 'gpu',
      kind: 'create' as const,
      status: 'planned' as const,
      updatedAt: now - 600_000,
    },
  ];
  const fake = new FakeOperatorView(fleets, runners, jobs, waits, costs, requests, () => now);
  fake.tasks = [
    {
      task: 'reconciler',
      holder: 'ip-10-0-1-17:1:4f2a9c1e',
      startedAt: now - 21_000,
      finishedAt: now - 20_400,
      ok: true,
      summary: '61 runners checked',
    },
    {
      task: 'retention',
      holder: 'ip-10-0-1-17:1:4f2a9c1e',
      startedAt: now - 900_000,
      finishedAt: now - 899_000,
      ok: true,
      summary: '212 jobs pruned',
    },
  ];
  return fake;
}

describeWithChromium('the dashboard in a browser', () => {
  let browser: Browser;
  let github: FakeGitHubOAuth;
  let app: DashboardApp;
  let view: FakeOperatorView;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    github = await startFakeGitHubOAuth();
    github.memberships = new Map([['octocat', ['acme/platform']]]);
  });

  afterAll(async () => {
    await browser?.close();
    await github?.close();
  });

  beforeEach(async () => {
    view = demoView(NOW);
    app = await startDashboardApp({
      view,
      now: () => NOW,
      fleetsYaml: 'dashboard:\n  allow: [acme/platform]\n',
      env: {
        GHE_HOST: github.host,
        GHE_PROTOCOL: 'http',
        GITHUB_CLIENT_ID: github.clientId,
        GITHUB_CLIENT_SECRET: github.clientSecret,
        FLEETBOT_SESSION_SECRET: randomBytes(32).toString('hex'),
      },
    });
    github.callbackUrl = `${app.url}/dashboard/oauth/callback`;
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  });

  afterEach(async () => {
    await page.context().close();
    await app.close();
  });

  async function signInAs(login: string): Promise<void> {
    github.signInAs = login;
    await page.goto(`${app.url}/dashboard`);
    await page.click('#sign-in');
    await page.waitForLoadState();
  }

  it('refuses a GitHub user outside dashboard.allow, who stays signed out', async () => {
    await signInAs('stranger');
    expect(await page.textContent('[role=alert]')).toBe('stranger is not an active member of acme/platform.');
    const again = await page.goto(`${app.url}/dashboard`);
    expect(again!.status()).toBe(401);
    expect(await page.locator('#fleets').count()).toBe(0);
  });

  it('signs a member in, and shows the fleets table as the view has it', async () => {
    await signInAs('octocat');
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    expect(await page.textContent('header span')).toBe('octocat');
    const rows = await page.$$eval('#fleets tbody tr', (trs) =>
      trs.map((tr) => ({
        name: tr.getAttribute('data-fleet'),
        ci: tr.children[1]!.textContent,
        compute: tr.children[2]!.textContent,
        active: Number(tr.querySelector('.active')!.textContent),
        maxRunners: Number(tr.querySelector('.max')!.textContent),
        warm: Number(tr.querySelector('.warm')!.textContent),
        waiting: Number(tr.querySelector('.waiting')!.textContent),
        state: tr.querySelector('.state')!.textContent,
      })),
    );
    const fleets = await view.fleets();
    expect(rows).toEqual(
      fleets.map(({ name, ci, compute, active, maxRunners, warm, waiting, state }) => ({
        name,
        ci,
        compute,
        active,
        maxRunners,
        warm,
        waiting,
        state,
      })),
    );
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('drains a fleet from the page with the CSRF token; a POST without it is refused', async () => {
    await signInAs('octocat');
    const csrf = await page.getAttribute('#fleets tr[data-fleet="linux-small"] input[name=_csrf]', 'value');
    expect(csrf).toMatch(/^[\w-]{43}$/);
    await Promise.all([page.waitForURL(`${app.url}/dashboard`), page.click('#fleets tr[data-fleet="linux-small"] button')]);
    expect(await page.textContent('#fleets tr[data-fleet="linux-small"] .state')).toBe('drained');
    expect(await page.textContent('#fleets tr[data-fleet="linux-small"] button')).toBe('Undrain');
    expect(view.fleetList[0]!.drained).toBe(true);
    // The browser's own session cookie, without the token: refused, as a forged cross-site form would be.
    const forged = await page.evaluate(
      async (url) => (await fetch(url, { method: 'POST' })).status,
      `${app.url}/api/fleets/linux-large/drain`,
    );
    expect(forged).toBe(403);
    expect(view.fleetList[1]!.drained).toBe(false);
  });

  it('refreshes itself: a change in the view appears without a reload', async () => {
    await signInAs('octocat');
    view.fleetList[1]!.waiting = 42;
    const cell = page.locator('#fleets tr[data-fleet="linux-large"] .waiting');
    expect(await cell.textContent()).toBe('5');
    await cell.filter({ hasText: /^42$/ }).waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe('/dashboard');
  }, 30_000);
});
