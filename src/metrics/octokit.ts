import type { FleetbotMetrics } from './instruments.js';

/** What the plugin sees of an Octokit: its request hooks, and the options it was made with. */
interface HookedOctokit {
  hook: {
    after(name: 'request', hook: (response: { headers: Record<string, unknown> }) => void): void;
    error(name: 'request', hook: (error: unknown) => never | Promise<never>): void;
  };
}

/** The installation an Octokit acts as (probot.auth(id) passes it in `auth`); `app` for the App's own JWT requests. */
function installationOf(options: { auth?: unknown }): string {
  const auth = options.auth as { installationId?: number | string } | undefined;
  return auth?.installationId !== undefined ? String(auth.installationId) : 'app';
}

/**
 * An Octokit plugin setting `fleetbot_github_rate_limit_remaining{installation}` from each response's
 * `x-ratelimit-remaining`, errors included (a 403 for an exhausted limit says 0).
 */
export function rateLimitPlugin(metrics: FleetbotMetrics) {
  return (octokit: HookedOctokit, options: { auth?: unknown }): void => {
    const installation = installationOf(options);
    const record = (headers: Record<string, unknown> | undefined) => {
      const remaining = Number(headers?.['x-ratelimit-remaining']);
      if (headers?.['x-ratelimit-remaining'] !== undefined && Number.isFinite(remaining)) {
        metrics.githubRateLimitRemaining.set({ installation }, remaining);
      }
    };
    octokit.hook.after('request', (response) => record(response.headers));
    octokit.hook.error('request', (error) => {
      record((error as { response?: { headers?: Record<string, unknown> } }).response?.headers);
      throw error;
    });
  };
}
