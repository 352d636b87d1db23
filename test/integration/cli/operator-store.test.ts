import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import type { JobView, RunnerView, StatusView } from '../../../src/operator/types.js';
import { createRunnerInfra } from '../../helpers/aws-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { describeWithMoto } from '../../helpers/moto.js';
import { useMotoAndGitHub } from '../../helpers/moto-and-github.js';
import { queuedJob } from '../../helpers/payloads.js';
import { captureContext } from '../../unit/cli/cli-context.js';

/**
 * The CLI's store mode on the SQLite file an app filled (in-process, against moto and the fake GitHub): the
 * command table of main.ts, with the app's own read model over the store.
 */
describeWithMoto('fleetbot status, jobs, runners, drain, undrain on the store an app filled', () => {
  const env = useMotoAndGitHub({ holdEcsTasksRunning: true });
  let dir: string;

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'fleetbot-cli-e2e-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the fleet full with one job waiting, its runner and both jobs; drain and undrain reach the app', async () => {
    const infra = await createRunnerInfra(env.moto, 'cli-runners');
    const fleet = ecsFleet({
      name: 'linux-small',
      maxRunners: 1,
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const app = await env.startApp({ fleets: [fleet] });
    await app.deliver('workflow_job', queuedJob({ jobId: 501, org: 'acme', labels: ['self-hosted', 'linux'] }));
    await app.deliver('workflow_job', queuedJob({ jobId: 502, org: 'acme', labels: ['self-hosted', 'linux'] }));
    writeFileSync(join(dir, 'fleetbot.yml'), JSON.stringify({ fleets: [fleet] }));
    const cli = async (...argv: string[]) => {
      const context = captureContext(dir, { FLEETBOT_DB: app.databaseFile });
      const code = await main(argv, context);
      return { code, out: context.stdout(), err: context.stderr() };
    };

    const status = await cli('status', '--json');
    expect(status.code).toBe(EXIT.ok);
    const view = JSON.parse(status.out) as StatusView;
    expect(view.fleets).toEqual([
      expect.objectContaining({
        name: 'linux-small',
        ci: 'github',
        compute: 'ecs',
        maxRunners: 1,
        active: 1,
        waiting: 1,
        state: 'full',
        drained: false,
      }),
    ]);
    expect(view.runners).toEqual([
      expect.objectContaining({ fleet: 'linux-small', jobId: '501', status: 'running', compute: 'ecs/FARGATE' }),
    ]);
    expect((await cli('status')).out).toMatch(/^linux-small +github +ecs +full +1\/1 +0 +1$/m);

    const jobs = JSON.parse((await cli('jobs', '--since', '1h', '--json')).out) as JobView[];
    expect(jobs.map((job) => [job.jobId, job.status])).toEqual([
      ['502', 'waiting'],
      ['501', 'launched'],
    ]);
    expect(jobs[1].timeline.launchedAt).toEqual(expect.any(Number));
    expect(JSON.parse((await cli('jobs', '--state', 'waiting', '--json')).out)).toHaveLength(1);

    const runners = JSON.parse((await cli('runners', '--fleet', 'linux-small', '--json')).out) as RunnerView[];
    expect(runners.map((runner) => runner.name)).toEqual([view.runners[0].name]);

    expect((await cli('drain', 'linux-small')).out).toBe('linux-small: drained');
    expect([...(await app.jobs.drainedFleets())]).toEqual(['linux-small']);
    expect((await cli('status')).out).toMatch(/^linux-small +github +ecs +drained +1\/1 +0 +1$/m);
    expect((await cli('undrain', 'linux-small')).out).toBe('linux-small: undrained');
    expect([...(await app.jobs.drainedFleets())]).toEqual([]);

    const unknown = await cli('drain', 'nope');
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toContain('no fleet is named "nope"');
  });
});
