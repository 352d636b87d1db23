import type { Browser, Page } from 'playwright-core';
import { SqliteStore } from '../../src/store/sqlite.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';
import { describeWithChromium, launchChromium } from './chromium.js';

/**
 * The dashboard of the app as `npm start` runs it (assemble.ts's operator view over its own SQLite store),
 * filled by signed webhooks and launching on moto, in a real headless browser: the fleets table is what the
 * store holds, and a drain and an undrain from the page change what the app launches.
 */

const TOKEN = 'kiosk-token-0123456789abcdef';

interface FleetRow {
  name: string | null;
  active: number;
  waiting: number;
  maxRunners: number;
  state: string | null;
}

describeWithChromium('the dashboard of the running app, in a browser', () => {
  describeWithMoto('over its own store', () => {
    let moto: Moto;
    let github: FakeGitHub;
    let infra: RunnerInfra;
    let app: AppProcess;
    let store: SqliteStore;
    let browser: Browser;
    let page: Page;

    beforeAll(async () => {
      moto = await startMoto();
      await moto.holdEcsTasksRunning();
      github = await startFakeGitHub();
      infra = await createRunnerInfra(moto, 'dashboard-app');
      const fleet = (name: string, label: string, maxRunners: number) => ({
        name,
        labels: ['self-hosted', label],
        maxRunners,
        compute: ecsCompute(infra),
      });
      const env = appEnvironment(moto, github, [fleet('linux-small', 'small', 2), fleet('linux-large', 'large', 1)], {
        FLEETBOT_DASHBOARD_TOKEN: TOKEN,
      });
      app = await startAppProcess(env);
      // The test's own connection to the app's file, as the CLI opens it: WAL lets both read and write.
      store = new SqliteStore(env.FLEETBOT_DB);
      browser = await launchChromium();
      page = await (await browser.newContext()).newPage();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await store?.close();
      await app?.stop();
      await github?.close();
      await moto?.stop();
    });

    const launchedJobs = async () => (await fleetbotTasks(moto, infra.cluster)).map((task) => tagOf(task, 'fleetbot:job')).sort();

    async function fleetRows(): Promise<FleetRow[]> {
      return page.$$eval('#fleets tbody tr', (rows) =>
        rows.map((row) => ({
          name: row.getAttribute('data-fleet'),
          active: Number(row.querySelector('.active')!.textContent),
          waiting: Number(row.querySelector('.waiting')!.textContent),
          maxRunners: Number(row.querySelector('.max')!.textContent),
          state: row.querySelector('.state')!.textContent,
        })),
      );
    }

    it('shows the fleets as the store counts them, after a token link signs the kiosk in', async () => {
      for (const jobId of [701, 702])
        expect((await app.post('workflow_job', queuedJob({ jobId, labels: ['self-hosted', 'large'] }))).status).toBe(200);
      await eventually('job 701 launched', async () => ((await launchedJobs()).includes('701') ? true : undefined));

      const answer = await page.goto(`${app.url}/dashboard?token=${TOKEN}`);
      expect(answer!.status()).toBe(200);
      expect(page.url()).toBe(`${app.url}/dashboard`);
      const counts = await store.fleetCounts();
      expect(await fleetRows()).toEqual(
        [
          { name: 'linux-small', maxRunners: 2, state: 'serving' },
          { name: 'linux-large', maxRunners: 1, state: 'full' },
        ].map((row) => ({ ...row, active: counts.get(row.name)?.active ?? 0, waiting: counts.get(row.name)?.waiting ?? 0 })),
      );
      expect(counts.get('linux-large')).toEqual({ active: 1, waiting: 1 });
    }, 60_000);

    it('drains a fleet from the page: a job queued meanwhile waits with a slot free, and an undrain launches it', async () => {
      await page.goto(`${app.url}/dashboard`);
      await Promise.all([page.waitForURL(`${app.url}/dashboard`), page.click('#fleets tr[data-fleet="linux-small"] button')]);
      expect(await page.textContent('#fleets tr[data-fleet="linux-small"] .state')).toBe('drained');
      expect([...(await store.drainedFleets())]).toEqual(['linux-small']);

      expect((await app.post('workflow_job', queuedJob({ jobId: 711, labels: ['self-hosted', 'small'] }))).status).toBe(200);
      await eventually('job 711 waiting', async () => ((await store.getJob('github', '711'))?.status === 'waiting' ? true : undefined));
      expect(await launchedJobs()).not.toContain('711');

      await Promise.all([page.waitForURL(`${app.url}/dashboard`), page.click('#fleets tr[data-fleet="linux-small"] button')]);
      expect(await page.textContent('#fleets tr[data-fleet="linux-small"] .state')).toBe('serving');
      await eventually('job 711 launched after the undrain', async () => ((await launchedJobs()).includes('711') ? true : undefined));
      expect((await store.getJob('github', '711'))?.status).toBe('launched');
    }, 60_000);
  });
});
