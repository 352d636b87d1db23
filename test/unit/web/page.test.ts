import { dashboardPage, loadDashboard, CONTENT_SECURITY_POLICY } from '../../../src/web/page.js';
import { timelineBar } from '../../../src/web/charts.js';
import { escapeHtml } from '../../../src/web/html.js';
import { FakeOperatorView, fleet, job, runner, waitStats } from '../../helpers/web/fake-operator-view.js';
import { createHash } from 'node:crypto';

const NOW = 1_800_000_000_000;

function view(): FakeOperatorView {
  const jobs = Array.from({ length: 250 }, (_, index) => job(String(1000 + index), NOW - index * 1000));
  return new FakeOperatorView(
    [fleet('linux', { active: 4, warm: 1, waiting: 3, maxRunners: 8 }), fleet('gpu', { drained: true, state: 'drained' })],
    [runner('linux-1-abc', 'linux'), runner('linux-2-def', 'linux', { spot: false, warm: true }), runner('gpu-3', 'gpu', { spot: null })],
    jobs,
    [waitStats('linux', [1, 2, 0, 5])],
    [
      { fleet: 'linux', day: '2027-01-14', dollars: 1.5 },
      { fleet: 'linux', day: '2027-01-15', dollars: 0.25 },
    ],
    [
      {
        repo: 'acme/fleets',
        issueNumber: 7,
        issueUrl: 'https://github.com/acme/fleets/issues/7',
        prNumber: 8,
        prUrl: 'javascript:alert(1)',
        fleet: 'gpu',
        kind: 'create',
        status: 'planned',
        updatedAt: NOW,
      },
    ],
    () => NOW,
  );
}

async function render(fake = view(), viewer: { user: string; csrf?: string } = { user: 'octocat', csrf: 'csrf-token' }) {
  const data = await loadDashboard(fake, {}, NOW);
  return dashboardPage(data, viewer, {}, NOW).text;
}

/** Without the line breaks between tags that keep the templates readable. */
function squashed(page: string): string {
  return page.replace(/>\s+</g, '><');
}

describe('the dashboard page', () => {
  it('shows the last 200 jobs, and reads waits over 24 h and cost over 7 days', async () => {
    const fake = view();
    const page = await render(fake);
    expect(page).toContain('Last 200 jobs');
    expect(page).toContain('>1000</a>');
    expect(page).not.toContain('>1200</a>');
    expect(fake.calls).toEqual(
      expect.arrayContaining([
        { method: 'jobs', argument: { limit: 200 } },
        { method: 'waitStats', argument: NOW - 86_400_000 },
        { method: 'costPerDay', argument: NOW - 7 * 86_400_000 },
      ]),
    );
  });

  it('shows each fleet with its capacity bar, backlog, state and a drain or undrain button carrying the CSRF token', async () => {
    const page = squashed(await render());
    expect(page).toContain('aria-label="4 of 8 active (1 warm)"');
    expect(page).toMatch(/<tr data-fleet="linux">.*<td class="waiting">3<\/td><td class="state state-serving">serving<\/td>/s);
    expect(page).toContain('action="/api/fleets/linux/drain"');
    expect(page).toContain('action="/api/fleets/gpu/undrain"');
    expect(page.match(/name="_csrf" value="csrf-token"/g)).toHaveLength(3);
  });

  it('has no buttons for a bearer caller (no CSRF token)', async () => {
    const page = await render(view(), { user: 'token' });
    expect(page).not.toContain('_csrf');
    expect(page).not.toContain('<form method="post"');
  });

  it('shows runners as spot, on-demand or unknown; the histogram, p50/p95; cost per day; requests with links', async () => {
    const page = squashed(await render());
    expect(page).toMatch(/linux-1-abc.*<td>spot<\/td>/s);
    expect(page).toMatch(/linux-2-def<\/td><td>linux<\/td><td>running \(warm\)<\/td>.*<td>on-demand<\/td>/s);
    expect(page).toMatch(/gpu-3.*<td>unknown<\/td>/s);
    expect(page).toContain('aria-label="wait-time histogram of linux"');
    expect(page).toContain('<title>≤ 30s: 0</title>');
    expect(page).toContain('<td>12 s</td><td>4 min 0 s</td>');
    expect(page).toContain('<td>$1.50</td><td>$0.250</td>');
    expect(page).toContain('<a href="https://github.com/acme/fleets/issues/7" rel="noreferrer">acme/fleets#7</a>');
    // A URL that is not http(s) is shown, never linked.
    expect(page).not.toContain('javascript:');
  });

  it('escapes what users wrote: labels, names, repositories', async () => {
    const fake = view();
    fake.jobList = [job('1', NOW, { labels: ['<script>alert(1)</script>'], runnerName: '"><img src=x onerror=alert(1)>' })];
    fake.requests[0]!.repo = 'acme/<b>x</b>';
    const page = await render(fake);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain(escapeHtml('<script>alert(1)</script>'));
    expect(page).toContain('acme/&lt;b&gt;x&lt;/b&gt;#7');
  });

  it('allows only its own inline script, by hash', async () => {
    const page = await render();
    const script = /<script>(.*?)<\/script>/s.exec(page)![1]!;
    expect(CONTENT_SECURITY_POLICY).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'sha256-[\w+/=]+';/);
  });
});

describe('the timeline bar', () => {
  it('draws each known step until the next: waiting, launching, booting, running', () => {
    const bar = timelineBar(job('1', NOW).timeline, NOW + 10 * 60_000).text;
    expect(bar).toContain('<title>waiting 2.0 s, launching 3.0 s, booting 22.0 s, running 95.0 s</title>');
    expect(bar.match(/<rect/g)).toHaveLength(4);
  });

  it('runs a job still waiting up to now', () => {
    const timeline = {
      queuedAt: null,
      receivedAt: NOW,
      claimedAt: null,
      launchRequestedAt: null,
      launchedAt: null,
      startedAt: null,
      completedAt: null,
    };
    expect(timelineBar(timeline, NOW + 5_000).text).toContain('<title>waiting 5.0 s</title>');
  });
});
