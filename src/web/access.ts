import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config.js';
import type { GitHubUrls, OAuthClient } from './github-sign-in.js';
import { constantTimeEqual, csrfToken, parseCookies, readSession, SESSION_COOKIE, sessionKey, type Session } from './session.js';

/** Who may see the dashboard and call its API, and how they prove it. */
export interface DashboardAccess {
  /** Signs session and sign-in cookies (session.ts's `sessionKey`). */
  sessionKey: Buffer;
  /** FLEETBOT_DASHBOARD_TOKEN: `Authorization: Bearer`, or once in a link's `?token=`. */
  token?: string;
  /** GitHub sign-in: the App's OAuth client, where GitHub is, and who may sign in (`dashboard.allow`). */
  gitHub?: { client: OAuthClient; urls: GitHubUrls; allow: readonly string[] };
}

/**
 * The access the configuration gives: GitHub sign-in when the App's OAuth client is known (the fleets
 * file's `dashboard.allow` says who), the token when set, and the cookie key (FLEETBOT_SESSION_SECRET, or
 * derived from the App's private key).
 */
export function dashboardAccess(
  config: Pick<AppConfig, 'dashboard' | 'github'>,
  allow: readonly string[],
  privateKey: string | undefined,
): DashboardAccess {
  const { oauthClient, token, sessionSecret } = config.dashboard;
  return {
    sessionKey: sessionKey(sessionSecret, privateKey),
    token,
    gitHub: oauthClient && { client: oauthClient, urls: config.github, allow },
  };
}

/**
 * A caller the dashboard knows: by the bearer token (a script: no cookie, so no ambient authority and no
 * CSRF token needed), or by a session cookie (a browser: its state-changing requests carry the CSRF token).
 */
export type Caller = { kind: 'bearer' } | { kind: 'session'; session: Session };

/** Why a request is not let in; `bad-token`: it sent a bearer token, and a wrong one. */
type Refusal = 'anonymous' | 'bad-token';

export function identify(access: DashboardAccess, request: IncomingMessage, now: number): Caller | Refusal {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const [scheme, presented] = authorization.split(' ', 2);
    const valid = scheme?.toLowerCase() === 'bearer' && presented !== undefined && access.token !== undefined;
    return valid && constantTimeEqual(presented, access.token!) ? { kind: 'bearer' } : 'bad-token';
  }
  const session = readSession(access.sessionKey, parseCookies(request.headers.cookie).get(SESSION_COOKIE), now);
  return session ? { kind: 'session', session } : 'anonymous';
}

/** A token link's token, when it is the dashboard's. */
export function validLinkToken(access: DashboardAccess, presented: string | null): boolean {
  return presented !== null && access.token !== undefined && constantTimeEqual(presented, access.token);
}

/** Whether a state-changing request may go on: bearer callers always; sessions with their own CSRF token. */
export function csrfAccepted(access: DashboardAccess, caller: Caller, request: IncomingMessage, form: URLSearchParams): boolean {
  if (caller.kind === 'bearer') return true;
  const header = request.headers['x-csrf-token'];
  const presented = (Array.isArray(header) ? header[0] : header) ?? form.get('_csrf');
  return presented !== null && presented !== undefined && constantTimeEqual(presented, csrfToken(access.sessionKey, caller.session));
}
