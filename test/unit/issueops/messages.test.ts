import { parse as parseYaml } from 'yaml';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import {
  COMMENT_LIMIT,
  escapeMarkdown,
  fleetReadyComment,
  invalidRequestComment,
  MARKERS,
  planComment,
} from '../../../src/issueops/messages.js';
import { validateFleetRequest } from '../../../src/issueops/request.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

describe('the plan comment', () => {
  it("carries the marker, terraform's summary line, the planned head and the plan folded away", () => {
    const body = planComment({
      sha,
      summary: 'Plan: 9 to add, 0 to change, 0 to destroy.',
      text: '  # aws_ecs_cluster.cluster will be created',
      kind: 'create',
      fleet: 'x',
    });
    expect(body.startsWith(MARKERS.plan)).toBe(true);
    expect(body).toContain('**Plan: 9 to add, 0 to change, 0 to destroy.**');
    expect(body).toContain(`Planned head: \`${sha}\``);
    expect(body).toMatch(/<details><summary>Full plan<\/summary>\n\n```\n {2}# aws_ecs_cluster\.cluster will be created\n```/);
  });

  it("tells a deletion's approver the destroy command", () => {
    expect(planComment({ sha, summary: 's', text: 't', kind: 'delete', fleet: 'gpu' })).toContain('`/approve destroy gpu`');
  });

  it("cuts a huge plan at a line boundary to fit GitHub's comment limit, and says so", () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `  + resource line ${i}`).join('\n');
    const body = planComment({ sha, summary: 's', text, kind: 'create', fleet: 'x' });
    expect(body.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(body).toMatch(/\n {2}\+ resource line \d+\n… cut here: \d+ of \d+ characters shown/);
    expect(body.endsWith('```\n\n</details>')).toBe(true);
  });

  it('keeps a plan that fits whole, right up to the limit', () => {
    const small = planComment({ sha, summary: 's', text: '', kind: 'create', fleet: 'x' });
    const text = 'x'.repeat(COMMENT_LIMIT - small.length);
    const body = planComment({ sha, summary: 's', text, kind: 'create', fleet: 'x' });
    expect(body.length).toBe(COMMENT_LIMIT);
    expect(body).not.toContain('cut here');
  });

  it('cannot be closed early by a code fence inside the plan', () => {
    const body = planComment({ sha, summary: 's', text: 'before\n```\n## injected', kind: 'create', fleet: 'x' });
    expect(body.match(/^```$/gm)).toHaveLength(2);
  });
});

describe('the invalid request comment', () => {
  it('lists each field with what was expected, with issue text unable to mention or link', () => {
    const body = invalidRequestComment([
      { field: 'vCPU', message: 'expected one of 0.25, 0.5, 1, 2, 4, 8, 16; got "3"' },
      { field: 'Fleet name', message: 'got "@org/team [x](http://evil)"' },
    ]);
    expect(body.startsWith(MARKERS.request)).toBe(true);
    expect(body).toContain('- **vCPU**: expected one of 0.25, 0.5, 1, 2, 4, 8, 16; got "3"');
    expect(body).toContain('got "\\@org/team \\[x\\]\\(http://evil\\)"');
  });

  it('escapes every Markdown control character', () => {
    expect(escapeMarkdown('*_`<b>#|~')).toBe('\\*\\_\\`\\<b\\>\\#\\|\\~');
  });
});

describe('the comment that closes a request', () => {
  /** The FleetSpec a request with these runner labels becomes. */
  function requestedFleet(labels: string): FleetSpec {
    const result = validateFleetRequest(
      {
        name: 'linux-build',
        ci: 'GitHub Actions',
        labels,
        compute: 'ECS Fargate',
        vcpu: '2',
        memory: '8',
        'max-runners': '20',
        image: 'ghcr.io/acme/actions-runner:2.330.0',
        justification: 'Integration tests need 8 GiB of memory.',
      },
      {
        defaults: { region: 'us-east-1', subnets: ['subnet-0123456789abcdef0'], securityGroups: [], assignPublicIp: false },
        nameTaken: () => undefined,
        requestIssue: 42,
        warmPoolOwner: 'acme',
      },
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    return result.spec;
  }

  /** The `runs-on` of the comment's workflow example, as GitHub's YAML reader gets it. */
  function exampleRunsOn(body: string): unknown {
    const example = /```yaml\n([\s\S]*?)```/.exec(body)?.[1];
    return (parseYaml(example!) as { jobs: { build: { 'runs-on': unknown } } }).jobs.build['runs-on'];
  }

  it('shows the runs-on of the labels the fleet really has: the requested ones with self-hosted added, not its name', () => {
    const fleet = requestedFleet('linux, x64');
    const runsOn = exampleRunsOn(fleetReadyComment(fleet, 7));
    expect(runsOn).toEqual(['self-hosted', 'linux', 'x64']);
    expect(runsOn).toEqual(fleet.labels);
    // The fleet takes a job that asks for exactly these.
    expect(new FleetRegistry([fleet]).match('github', runsOn as string[])?.name).toBe('linux-build');
  });

  it("keeps the requester's own self-hosted, in their case", () => {
    expect(exampleRunsOn(fleetReadyComment(requestedFleet('Self-Hosted, gpu'), 7))).toEqual(['Self-Hosted', 'gpu']);
  });

  it('quotes labels YAML would read as something else than text', () => {
    const fleet = requestedFleet('1.0, on, true, null, 0x1F, 2026-12-04, x64');
    expect(exampleRunsOn(fleetReadyComment(fleet, 7))).toEqual(fleet.labels);
    expect(parseYaml(`runs-on: ${/runs-on: (.*)\n/.exec(fleetReadyComment(fleet, 7))![1]}`, { version: '1.1' })).toEqual({
      'runs-on': fleet.labels,
    });
  });

  it('says how many runners the fleet runs at once', () => {
    expect(fleetReadyComment(requestedFleet('linux'), 7)).toContain('up to 20 at a time');
  });
});
