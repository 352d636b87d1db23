import { apiError } from './fake-github-repos.js';
import type { Route } from './fake-github.js';

/**
 * The App's own settings as the fake GitHub answers them: the permissions and events of `GET /app`, and the
 * webhook configuration of `GET /app/hook/config` (GitHub masks the secret, and leaves it out when none is set).
 * Tests change them in place to play an App registered wrongly.
 */
export interface FakeAppSettings {
  permissions: Record<string, string>;
  events: string[];
  /** Null: `GET /app/hook/config` answers 404, as for an App without a webhook. */
  hookConfig: { url?: string; content_type?: string; insecure_ssl?: string; secret?: string } | null;
}

export function defaultAppSettings(url: string): FakeAppSettings {
  return {
    permissions: {
      checks: 'write',
      contents: 'write',
      issues: 'write',
      members: 'read',
      metadata: 'read',
      pull_requests: 'write',
    },
    events: ['issues', 'issue_comment', 'pull_request', 'workflow_job'],
    hookConfig: { url: `${url}/api/github/webhooks`, content_type: 'json', insecure_ssl: '0', secret: '********' },
  };
}

export function appSettingsRoutes(settings: FakeAppSettings): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/app\/hook\/config$/,
      handle: (_params, _body, request) => {
        if (!/^bearer\s/i.test(request.headers.authorization ?? '')) return apiError(401, 'A JSON web token could not be decoded');
        return settings.hookConfig ? { status: 200, body: settings.hookConfig } : apiError(404, 'Not Found');
      },
    },
  ];
}
