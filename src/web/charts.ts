import type { JobTimeline, WaitStats } from '../operator/types.js';
import { markup, type Html } from './html.js';

/** The dashboard's charts, as inline SVG: no script, no library, and they print. */

/** A job's steps on its timeline bar, and their colours (the page's legend shows them). */
export const STEP_COLOURS = { waiting: '#9ca3af', launching: '#f59e0b', booting: '#60a5fa', running: '#16a34a' };
const COLOURS = { busy: '#2563eb', warm: '#f59e0b', free: '#e5e7eb', ...STEP_COLOURS };

/** Active runners (busy, then warm) out of `maxRunners`. */
export function capacityBar(active: number, warm: number, maxRunners: number): Html {
  const width = 160;
  const scale = (count: number) => (maxRunners > 0 ? Math.min(width, (count / maxRunners) * width) : 0);
  const busy = scale(Math.max(0, active - warm));
  const warmWidth = Math.min(width - busy, scale(warm));
  const label = `${active} of ${maxRunners} active (${warm} warm)`;
  return markup`<svg class="bar" width="${width}" height="12" role="img" aria-label="${label}"><title>${label}</title>
<rect width="${width}" height="12" fill="${COLOURS.free}"/><rect width="${busy.toFixed(1)}" height="12" fill="${COLOURS.busy}"/>
<rect x="${busy.toFixed(1)}" width="${warmWidth.toFixed(1)}" height="12" fill="${COLOURS.warm}"/></svg>`;
}

/**
 * A job's steps on one bar, from the CI system's queued time (or receipt) to completion (or now): waiting
 * for a runner, launching, the runner booting, the job running. Each step lasts until the next one known.
 */
export function timelineBar(timeline: JobTimeline, now: number): Html {
  const width = 200;
  const start = timeline.queuedAt ?? timeline.receivedAt;
  if (start === null) return markup``;
  const end = Math.max(timeline.completedAt ?? now, start + 1);
  const x = (at: number) => ((Math.min(Math.max(at, start), end) - start) / (end - start)) * width;
  type Step = keyof typeof STEP_COLOURS;
  const known: [Step, number | null][] = [
    ['waiting', start],
    ['launching', timeline.launchRequestedAt ?? timeline.claimedAt],
    ['booting', timeline.launchedAt],
    ['running', timeline.startedAt],
  ];
  const points = known.filter((point): point is [Step, number] => point[1] !== null);
  const steps = points.map(([step, from], index) => ({ step, from, to: points[index + 1]?.[1] ?? end }));
  const title = steps.map(({ step, from, to }) => `${step} ${((to - from) / 1000).toFixed(1)} s`).join(', ');
  const rects = steps.map(({ step, from, to }) => {
    const left = x(from);
    return markup`<rect x="${left.toFixed(1)}" width="${Math.max(1, x(to) - left).toFixed(1)}" height="10" fill="${COLOURS[step]}"/>`;
  });
  return markup`<svg class="bar" width="${width}" height="10" role="img" aria-label="${title}"><title>${title}</title>${rects}</svg>`;
}

function bound(le: number): string {
  if (!Number.isFinite(le)) return '+∞';
  return le >= 60 ? `${le / 60}m` : `${le}s`;
}

/** Jobs per wait-time bucket (the cumulative counts made per-bucket), over the last 24 h. */
export function waitHistogram(stats: WaitStats): Html {
  const counts = stats.buckets.map((bucket, index) => bucket.count - (index > 0 ? stats.buckets[index - 1]!.count : 0));
  const highest = Math.max(1, ...counts);
  const barWidth = 22;
  const height = 60;
  const bars = counts.map((count, index) => {
    const barHeight = (count / highest) * height;
    const le = stats.buckets[index]!.le;
    return markup`<g><title>≤ ${bound(le)}: ${count}</title>
<rect x="${index * barWidth}" y="${(height - barHeight).toFixed(1)}" width="${barWidth - 2}"
 height="${barHeight.toFixed(1)}" fill="${COLOURS.busy}"/>
<text x="${index * barWidth + (barWidth - 2) / 2}" y="${height + 11}" font-size="8" text-anchor="middle">${bound(le)}</text></g>`;
  });
  const label = `wait-time histogram of ${stats.fleet}`;
  return markup`<svg width="${counts.length * barWidth}" height="${height + 14}" role="img" aria-label="${label}">${bars}</svg>`;
}

/** One bar per day, the day's dollars on hover. */
export function costBars(days: { day: string; dollars: number }[]): Html {
  const highest = Math.max(0.01, ...days.map((day) => day.dollars));
  const height = 30;
  const bars = days.map((day, index) => {
    const barHeight = (day.dollars / highest) * height;
    return markup`<rect x="${index * 12}" y="${(height - barHeight).toFixed(1)}" width="10" height="${barHeight.toFixed(1)}"
 fill="${COLOURS.running}"><title>${day.day}: $${day.dollars.toFixed(2)}</title></rect>`;
  });
  return markup`<svg width="${Math.max(12, days.length * 12)}" height="${height}" role="img" aria-label="cost per day">${bars}</svg>`;
}
