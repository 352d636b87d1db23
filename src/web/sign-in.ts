import { randomBytes } from 'node:crypto';
import { errorFields } from '../errors.js';
import { omitFromAccessLog } from '../log.js';
import { csrfAccepted, identify, validLinkToken } from './access.js';
import { authorizeUrl, exchangeCode, firstMembership, signedInLogin, SignInError } from './github-sign-in.js';
import { isHttps, readForm, redirect, sendHtml, sendJson } from './http.js';
import { signInPage } from './page.js';
import type { RouteContext } from './routes.js';
import {
  clearCookie,
  constantTimeEqual,
  newSession,
  OAUTH_COOKIE,
  OAUTH_TTL_MS,
  parseCookies,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  setCookie,
  sign,
  verify,
} from './session.js';

/** How a browser gets a session: a token link, or GitHub sign-in; and how it ends one. */

const OAUTH_PATH = '/dashboard/oauth';

function sessionCookie(context: RouteContext, user: string): string {
  const value = sign(context.deps.access.sessionKey, newSession(user, context.now));
  return setCookie(SESSION_COOKIE, value, { path: '/', maxAgeMs: SESSION_TTL_MS, secure: isHttps(context.request) });
}

function page(context: RouteContext, status: number, message: string, headers: Record<string, string> = {}): true {
  const gitHub = context.deps.access.gitHub !== undefined && context.deps.access.gitHub.allow.length > 0;
  return sendHtml(context.response, status, signInPage({ gitHub, message }), headers);
}

/**
 * `/dashboard?token=…` (a kiosk's link): a valid token sets the session cookie and sends the browser to
 * the same URL without it, so the token stays out of its history and of later requests. Neither this
 * request nor its token reach the access log (the caller omits it); this line says what happened.
 */
export async function tokenLink(context: RouteContext): Promise<true> {
  const { url, deps } = context;
  const accepted = validLinkToken(deps.access, url.searchParams.get('token'));
  deps.log.info({ path: url.pathname, accepted }, accepted ? 'dashboard token link: session opened' : 'dashboard token link refused');
  if (!accepted) return page(context, 401, 'That link’s token is not the dashboard token.');
  url.searchParams.delete('token');
  return redirect(context.response, `${url.pathname}${url.search}`, { 'set-cookie': sessionCookie(context, 'token') });
}

/** `GET /dashboard/login`: to GitHub's authorize page, with a random `state` this browser keeps in a signed cookie. */
export async function startSignIn(context: RouteContext): Promise<true> {
  const gitHub = context.deps.access.gitHub;
  if (!gitHub || gitHub.allow.length === 0) return page(context, 404, 'GitHub sign-in is not configured here.');
  const state = randomBytes(16).toString('base64url');
  const cookie = sign(context.deps.access.sessionKey, { state, expiresAt: context.now + OAUTH_TTL_MS });
  const secure = isHttps(context.request);
  return redirect(context.response, authorizeUrl(gitHub.urls, gitHub.client, state), {
    'set-cookie': setCookie(OAUTH_COOKIE, cookie, { path: OAUTH_PATH, maxAgeMs: OAUTH_TTL_MS, secure }),
  });
}

/** The sign-in this browser started, if its state cookie is signed, unexpired and names this `state`. */
function stateMatches(context: RouteContext): boolean {
  const cookie = parseCookies(context.request.headers.cookie).get(OAUTH_COOKIE);
  const started = verify(context.deps.access.sessionKey, cookie) as { state?: unknown; expiresAt?: unknown } | undefined;
  const state = context.url.searchParams.get('state');
  if (typeof started?.state !== 'string' || typeof started.expiresAt !== 'number' || state === null) return false;
  return started.expiresAt > context.now && constantTimeEqual(state, started.state);
}

/**
 * `GET /dashboard/oauth/callback?code=&state=`: the state checked against this browser's cookie (another
 * site cannot sign a browser in as someone else), the code exchanged for the user's token, the user and
 * their memberships read with it; a member of `dashboard.allow` gets a session. The code is a credential:
 * this request is kept out of the access log, and this function logs the outcome.
 */
export async function oauthCallback(context: RouteContext): Promise<true> {
  omitFromAccessLog(context.response);
  const { deps, url } = context;
  const gitHub = deps.access.gitHub;
  if (!gitHub || gitHub.allow.length === 0) return page(context, 404, 'GitHub sign-in is not configured here.');
  const secure = isHttps(context.request);
  const headers = { 'set-cookie': clearCookie(OAUTH_COOKIE, OAUTH_PATH, secure) };
  if (!stateMatches(context)) {
    deps.log.warn({ path: url.pathname }, 'dashboard sign-in refused: its state does not match the one this browser started with');
    return page(context, 400, 'This sign-in was not started from this browser, or took over 10 minutes: sign in again.', headers);
  }
  const code = url.searchParams.get('code');
  if (code === null) return page(context, 403, `GitHub did not sign you in (${url.searchParams.get('error') ?? 'no code'}).`, headers);
  try {
    const token = await exchangeCode(gitHub.urls, gitHub.client, code);
    const login = await signedInLogin(gitHub.urls, token);
    const entry = await firstMembership(gitHub.urls, token, login, gitHub.allow);
    deps.log.info({ user: login, allowedBy: entry ?? null }, entry ? 'dashboard sign-in' : 'dashboard sign-in refused: not a member');
    if (!entry) return page(context, 403, `${login} is not an active member of ${gitHub.allow.join(', ')}.`, headers);
    return redirect(context.response, '/dashboard', { 'set-cookie': [headers['set-cookie'], sessionCookie(context, login)] });
  } catch (error) {
    // Every call above is to GitHub: a refusal (SignInError says which), a timeout or a network failure.
    deps.log.warn({ err: errorFields(error) }, 'dashboard sign-in failed');
    const reason = error instanceof SignInError ? error.message : 'GitHub did not answer';
    return page(context, 502, `${reason}. Try again.`, headers);
  }
}

/** `POST /dashboard/logout` with the session's CSRF token: the session cookie is cleared. */
export async function logout(context: RouteContext): Promise<true> {
  const caller = identify(context.deps.access, context.request, context.now);
  if (typeof caller === 'string' || caller.kind !== 'session') return sendJson(context.response, 401, { error: 'no session to end' });
  if (!csrfAccepted(context.deps.access, caller, context.request, await readForm(context.request))) {
    return sendJson(context.response, 403, { error: 'missing or wrong CSRF token; reload the dashboard' });
  }
  return redirect(context.response, '/dashboard', { 'set-cookie': clearCookie(SESSION_COOKIE, '/', isHttps(context.request)) });
}
