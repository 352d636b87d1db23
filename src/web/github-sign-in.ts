/**
 * GitHub sign-in through the App's own OAuth client (web application flow), and the membership check of
 * `dashboard.allow`, all with the signed-in user's token, which is used for these calls and then dropped.
 *
 * Scope `read:org`: what an OAuth App token needs to read the user's organisation and team memberships. A
 * GitHub App ignores scopes; its user tokens may do what both the user and the App may, and the App has
 * `members: read` (app.yml), which both membership endpoints below need, for the organisations it is
 * installed on. So an entry of `dashboard.allow` must be an organisation the App is installed on.
 *
 * - An organisation: `GET /user/memberships/orgs/{org}`, the user's own membership. Unlike
 *   `GET /orgs/{org}/members/{user}` (204, or a 302 to the public list when the caller is not a member) it
 *   says `state`, so a pending invitation is not taken for membership.
 * - A team (`org/team-slug`): `GET /orgs/{org}/teams/{team}/memberships/{user}`, `state: active` likewise;
 *   404 for a non-member. Child teams' members count, as GitHub counts them.
 */

export interface GitHubUrls {
  /** https://github.com, or the GitHub Enterprise Server host: where users authorize. */
  webUrl: string;
  /** https://api.github.com, or `<host>/api/v3`. */
  apiUrl: string;
}

export interface OAuthClient {
  id: string;
  secret: string;
}

const TIMEOUT_MS = 10_000;

/** Where the sign-in starts. No redirect_uri: GitHub sends the user back to the App's registered callback URL. */
export function authorizeUrl(urls: GitHubUrls, client: OAuthClient, state: string): string {
  const query = new URLSearchParams({ client_id: client.id, scope: 'read:org', state, allow_signup: 'false' });
  return `${urls.webUrl}/login/oauth/authorize?${query}`;
}

export class SignInError extends Error {
  override name = 'SignInError';
}

/** The code GitHub sent back, exchanged for the user's token. */
export async function exchangeCode(urls: GitHubUrls, client: OAuthClient, code: string): Promise<string> {
  const response = await fetch(`${urls.webUrl}/login/oauth/access_token`, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: client.id, client_secret: client.secret, code }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown; error_description?: unknown };
  if (response.ok && typeof body.access_token === 'string') return body.access_token;
  // GitHub answers a bad or used code with 200 and `error` (bad_verification_code).
  throw new SignInError(`GitHub refused the sign-in code (${String(body.error_description ?? body.error ?? `HTTP ${response.status}`)})`);
}

async function apiGet(urls: GitHubUrls, token: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${urls.apiUrl}${path}`, {
    headers: { accept: 'application/vnd.github+json', authorization: `Bearer ${token}`, 'x-github-api-version': '2022-11-28' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: response.status, body };
}

export async function signedInLogin(urls: GitHubUrls, token: string): Promise<string> {
  const { status, body } = await apiGet(urls, token, '/user');
  if (status !== 200 || typeof body.login !== 'string')
    throw new SignInError(`GitHub did not say who signed in (GET /user: HTTP ${status})`);
  return body.login;
}

/**
 * The first entry of `allow` the user is an active member of, or undefined. 404 and 403 (not a member, or
 * the App not installed there) mean no; other failures throw, so that an outage is not shown as a refusal.
 */
export async function firstMembership(
  urls: GitHubUrls,
  token: string,
  login: string,
  allow: readonly string[],
): Promise<string | undefined> {
  for (const entry of allow) {
    const [org, team] = entry.split('/').map(encodeURIComponent);
    const path = team ? `/orgs/${org}/teams/${team}/memberships/${encodeURIComponent(login)}` : `/user/memberships/orgs/${org}`;
    const { status, body } = await apiGet(urls, token, path);
    if (status === 200 && body.state === 'active') return entry;
    if (status !== 200 && status !== 403 && status !== 404)
      throw new SignInError(`GitHub could not say whether ${login} is in ${entry} (HTTP ${status})`);
  }
  return undefined;
}
