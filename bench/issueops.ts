/**
 * `npm run bench:issueops` (and the second half of `npm run bench`): IssueOps latency against moto
 * with real terraform, the app started as `npm start` runs it. For each of a few Fargate fleet requests:
 * issue opened → plan comment posted, split into the app's own timings (validate, synth, publish from its
 * `request published` log line; synth, init, plan, show, comment from `plan posted`), then `/approve` →
 * merged. Prints numbers; asserts nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MARKERS } from '../src/issueops/messages.js';
import type { PublishTimings } from '../src/issueops/intake.js';
import type { PlanTimings } from '../src/issueops/plan.js';
import { appEnvironment, eventually, startAppProcess } from '../test/helpers/app-process.js';
import { createRunnerInfra } from '../test/helpers/aws-fixture.js';
import { startFakeGitHub } from '../test/helpers/fake-github.js';
import { fargateRequest, FLEETS_REPO, issueOpsSettingsFor } from '../test/helpers/issueops.js';
import { startMoto } from '../test/helpers/moto.js';
import { issueCommentEvent, issuesEvent } from '../test/helpers/webhook-events.js';

const REQUESTS = Number(process.env.BENCH_ISSUEOPS_REQUESTS ?? 3);
const TIMEOUT_MS = 300_000;

/** Synth counts twice: the request's files, then the check of the PR head against a new synthesis. */
type Timings = Omit<PublishTimings, 'synthMs'> & PlanTimings;

interface Row {
  fleet: string;
  toPlanCommentS: number;
  timings: Timings;
  toMergedS: number;
  applyS: number;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

async function main(): Promise<void> {
  const moto = await startMoto();
  const github = await startFakeGitHub();
  const infra = await createRunnerInfra(moto);
  github.createRepo(FLEETS_REPO, { files: { 'README.md': '# Runner fleets\n' } });
  github.setRole(FLEETS_REPO, 'requester', 'write');
  github.setRole(FLEETS_REPO, 'approver', 'maintain');
  const workdir = mkdtempSync(join(tmpdir(), 'fleetbot-bench-terraform-'));
  const app = await startAppProcess(appEnvironment(moto, github, [], {}, issueOpsSettingsFor(moto, workdir)));
  const logLines = () =>
    app
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const rows: Row[] = [];
  try {
    for (let i = 1; i <= REQUESTS; i++) {
      const fleet = `bench-${i}`;
      const issue = github.createIssue(FLEETS_REPO, {
        title: `Fleet request ${fleet}`,
        body: fargateRequest(fleet, infra.subnetId),
        labels: ['fleet-request'],
        user: 'requester',
      });
      const opened = Date.now();
      const event = issuesEvent(github, FLEETS_REPO, issue, 'opened');
      await app.post(event.name, event.payload);
      const planLog = await eventually(
        `the plan of ${fleet}`,
        async () => logLines().find((line) => line.msg === 'plan posted' && line.fleet === fleet),
        TIMEOUT_MS,
      );
      const toPlanComment = Date.now() - opened;
      const publishLog = logLines().find((line) => line.msg === 'request published' && line.fleet === fleet);
      if (!publishLog) throw new Error(`no 'request published' log line for ${fleet}`);
      const publishTimings = publishLog.timings as PublishTimings;
      const planTimings = planLog.timings as PlanTimings;
      const pr = planLog.pr as number;
      const planComment = github.comments(FLEETS_REPO, pr).find((comment) => comment.body.startsWith(MARKERS.plan));
      if (!planComment) throw new Error(`no plan comment on #${pr}`);

      const approved = Date.now();
      const approval = issueCommentEvent(github, FLEETS_REPO, pr, '/approve', 'approver');
      await app.post(approval.name, approval.payload);
      await eventually(`the merge of #${pr}`, async () => github.mergedPulls.find((merge) => merge.number === pr), TIMEOUT_MS);
      const toMerged = Date.now() - approved;
      // The issue is commented on and closed after the merge; the next request starts after that.
      const applyLog = await eventually(
        `the end of ${fleet}'s apply`,
        async () => logLines().find((line) => line.msg === 'fleet request applied' && line.fleet === fleet),
        TIMEOUT_MS,
      );
      rows.push({
        fleet,
        toPlanCommentS: toPlanComment / 1000,
        timings: { ...publishTimings, ...planTimings, synthMs: publishTimings.synthMs + planTimings.synthMs },
        toMergedS: toMerged / 1000,
        applyS: Number(applyLog.appliedMs) / 1000,
      });
    }
  } finally {
    await app.stop();
    await github.close();
    await moto.stop();
  }

  console.log('\nIssueOps against moto (real terraform), Fargate fleets of 9 resources each');
  console.log('fleet    | opened→plan comment | validate synth publish  init   plan   show comment | /approve→merged (apply)');
  for (const row of rows) {
    const t = row.timings;
    console.log(
      `${row.fleet.padEnd(8)} | ${`${row.toPlanCommentS.toFixed(1)} s`.padStart(19)} | ` +
        `${seconds(t.validateMs).padStart(8)} ${seconds(t.synthMs).padStart(5)} ${seconds(t.publishMs).padStart(7)} ` +
        `${seconds(t.initMs).padStart(5)} ${seconds(t.planMs).padStart(6)} ${seconds(t.showMs).padStart(6)} ${seconds(t.commentMs).padStart(7)} | ` +
        `${row.toMergedS.toFixed(1)} s (${row.applyS.toFixed(1)} s)`,
    );
  }
  const worstPlan = Math.max(...rows.map((row) => row.toPlanCommentS));
  const worstMerge = Math.max(...rows.map((row) => row.toMergedS));
  console.log(
    `\nworst opened→plan comment ${worstPlan.toFixed(1)} s (target ≤ 20 s); worst /approve→merged ${worstMerge.toFixed(1)} s (target ≤ 30 s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
