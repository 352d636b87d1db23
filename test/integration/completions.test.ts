import type { FleetSpec } from '../../src/fleets/spec.js';
import { createRunnerInfra, ecsCompute, runningJobIds } from '../helpers/aws-fixture.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto } from '../helpers/moto.js';
import { useMotoAndGitHub } from '../helpers/moto-and-github.js';
import { completedJob, queuedJob, startedJob } from '../helpers/payloads.js';

const TIMES = { createdAt: '2026-12-05T00:00:00Z', startedAt: '2026-12-05T00:00:30Z' };

describeWithMoto('completions: which runner a completion frees, and what happens to its own job', () => {
  const env = useMotoAndGitHub();
  let clusterCount = 0;

  async function fleetOf(name: string, labels: string[], maxRunners: number): Promise<{ fleet: FleetSpec; cluster: string }> {
    const infra = await createRunnerInfra(env.moto, `completions-${++clusterCount}`);
    return { fleet: ecsFleet({ name, labels, maxRunners, compute: ecsCompute(infra) }), cluster: infra.cluster };
  }

  const runningJobs = (cluster: string) => runningJobIds(env.moto, cluster);

  describe('runner stealing (GitHub gives a runner to another job than the one it was launched for)', () => {
    it('puts the stranded job back at the head of the backlog and serves it with the freed slot, never above maxRunners', async () => {
      const { fleet, cluster } = await fleetOf('linux-one', ['self-hosted', 'linux'], 1);
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 701, org: 'acme' }));
      await app.deliver('workflow_job', queuedJob({ jobId: 702, org: 'acme' }));
      await app.deliver('workflow_job', queuedJob({ jobId: 703, org: 'acme' }));
      const stolen = (await app.store.getJob('github', '701'))!.runnerName!;

      // GitHub gives 701's runner to 702, and 702 completes on it.
      await app.deliver('workflow_job', startedJob({ jobId: 702, org: 'acme', runnerName: stolen, ...TIMES }));
      await app.deliver('workflow_job', completedJob({ jobId: 702, org: 'acme', runnerName: stolen }));

      const a = await app.store.getJob('github', '701');
      expect(a).toMatchObject({ status: 'launched', launchAttempts: 2 });
      expect(a?.runnerName).not.toBe(stolen);
      expect(await runningJobs(cluster)).toEqual(['701']);
      expect((await app.store.fleetCounts()).get('linux-one')).toEqual({ active: 1, waiting: 1 });
      expect((await app.store.getJob('github', '703'))?.status).toBe('waiting');
    });

    it("puts a fleet's stranded job back in line when its runner took another fleet's job", async () => {
      const small = await fleetOf('small', ['self-hosted', 'linux', 'small'], 1);
      const big = await fleetOf('big', ['self-hosted', 'linux', 'small', 'big'], 1);
      const app = await env.startApp({ fleets: [small.fleet, big.fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 711, org: 'acme', labels: ['self-hosted', 'linux', 'big'] }));
      await app.deliver('workflow_job', queuedJob({ jobId: 712, org: 'acme', labels: ['self-hosted', 'linux', 'small'] }));
      await app.deliver('workflow_job', queuedJob({ jobId: 713, org: 'acme', labels: ['self-hosted', 'linux', 'small'] }));
      const bigRunner = (await app.store.getJob('github', '711'))!.runnerName!;
      expect(await runningJobs(big.cluster)).toEqual(['711']);
      expect(await runningJobs(small.cluster)).toEqual(['712']);

      // The big fleet's runner (its labels include the small fleet's) takes the small fleet's waiting job 713.
      await app.deliver('workflow_job', startedJob({ jobId: 713, org: 'acme', runnerName: bigRunner, ...TIMES }));
      await app.deliver('workflow_job', completedJob({ jobId: 713, org: 'acme', runnerName: bigRunner }));

      expect(await app.store.getJob('github', '711')).toMatchObject({ status: 'launched', launchAttempts: 2 });
      expect(await runningJobs(big.cluster)).toEqual(['711']);
      expect(await runningJobs(small.cluster)).toEqual(['712']);
      expect((await app.store.getJob('github', '713'))?.status).toBe('completed');
    });

    it('launches nothing again for a stranded job that another runner took meanwhile (the still-queued check)', async () => {
      const { fleet, cluster } = await fleetOf('linux-one', ['self-hosted', 'linux'], 1);
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 721, org: 'acme' }));
      await app.deliver('workflow_job', queuedJob({ jobId: 722, org: 'acme' }));
      const stolen = (await app.store.getJob('github', '721'))!.runnerName!;
      env.github.setJobStatus(721, 'in_progress');

      await app.deliver('workflow_job', completedJob({ jobId: 722, org: 'acme', runnerName: stolen }));

      expect((await app.store.getJob('github', '721'))?.status).toBe('abandoned');
      expect(await runningJobs(cluster)).toEqual([]);
    });

    it('the reconciler puts back in line a launched job whose runner was released before it started', async () => {
      const { fleet, cluster } = await fleetOf('linux-one', ['self-hosted', 'linux'], 1);
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 731, org: 'acme' }));
      const runner = (await app.store.getJob('github', '731'))!;
      // As a completion recorded by an older fleetbot left it: the runner released, its job `launched`.
      await app.store.releaseRunner(runner.runnerName!, 'job completed', { requeueJob: false }, Date.now());

      const summary = await app.fleetbot.reconciler.pass();
      await app.fleetbot.idle();

      expect(summary).toMatchObject({ strandedRequeued: 1, backlogLaunched: 1 });
      expect(await app.store.getJob('github', '731')).toMatchObject({ status: 'launched', launchAttempts: 2 });
      expect(await runningJobs(cluster)).toEqual(['731']);
      expect((await app.fleetbot.reconciler.pass()).strandedRequeued).toBe(0);
    });
  });

  describe('a completion frees only a runner of its own CI system and owner', () => {
    it("leaves running a runner of another organisation's job that a completion names", async () => {
      const { fleet, cluster } = await fleetOf('linux-one', ['self-hosted', 'linux'], 2);
      const app = await env.startApp({ fleets: [fleet] });
      await app.deliver('workflow_job', queuedJob({ jobId: 741, org: 'acme' }));
      const runnerName = (await app.store.getJob('github', '741'))!.runnerName!;

      await app.deliver('workflow_job', completedJob({ jobId: 9741, org: 'mallory', runnerName }));
      await app.deliver('workflow_job', completedJob({ jobId: 9742, runnerName }));

      expect((await app.store.getRunner(runnerName))?.status).toBe('running');
      expect(await runningJobs(cluster)).toEqual(['741']);
      const refused = app.logs.filter((line) => line.includes('completion names a runner of another CI system or owner'));
      expect(refused).toHaveLength(2);

      await app.deliver('workflow_job', completedJob({ jobId: 741, org: 'acme', runnerName }));
      expect((await app.store.getRunner(runnerName))?.status).toBe('released');
    });
  });
});
