import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed cookies: `<base64url JSON>.<base64url HMAC-SHA256>`. Whoever holds the key can mint them, so
 * nothing is kept on the server and every replica accepts every other's (they share the key).
 */

export const SESSION_COOKIE = 'fleetbot_session';
/** The OAuth `state` of a sign-in under way, checked when GitHub sends the user back. */
export const OAUTH_COOKIE = 'fleetbot_oauth';
export const SESSION_TTL_MS = 12 * 3_600_000;
export const OAUTH_TTL_MS = 10 * 60_000;

export interface Session {
  /** Random: the CSRF token is derived from it, so it differs per session. */
  id: string;
  /** A GitHub login, or `token` for a session a token link opened. */
  user: string;
  expiresAt: number;
}

/**
 * The key that signs cookies: FLEETBOT_SESSION_SECRET, else HKDF-SHA256 of the App's private key, so that
 * a restart keeps sessions and replicas agree without one more secret to distribute. A different `info`
 * keeps this key unrelated to any other use of the private key.
 */
export function sessionKey(configured: string | undefined, privateKey: string | undefined): Buffer {
  if (configured !== undefined) return createHash('sha256').update(configured).digest();
  if (privateKey === undefined) throw new Error('the dashboard needs FLEETBOT_SESSION_SECRET or the App private key to sign its cookies');
  return Buffer.from(hkdfSync('sha256', privateKey, 'fleetbot', 'fleetbot dashboard session cookies v1', 32));
}

/** Equal strings, compared in time that does not depend on where they differ (or on their lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

export function sign(key: Buffer, value: object): string {
  const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

/** The signed value, or undefined when the signature does not match or the text is not one. */
export function verify(key: Buffer, text: string | undefined): unknown {
  const dot = text?.lastIndexOf('.') ?? -1;
  if (text === undefined || dot < 1) return undefined;
  const payload = text.slice(0, dot);
  if (!constantTimeEqual(text.slice(dot + 1), mac(key, payload))) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

export function newSession(user: string, now: number): Session {
  return { id: randomBytes(16).toString('base64url'), user, expiresAt: now + SESSION_TTL_MS };
}

/** A signed, unexpired session cookie's session. */
export function readSession(key: Buffer, cookie: string | undefined, now: number): Session | undefined {
  const value = verify(key, cookie) as Partial<Session> | undefined;
  if (typeof value?.id !== 'string' || typeof value.user !== 'string' || typeof value.expiresAt !== 'number') return undefined;
  return value.expiresAt > now ? (value as Session) : undefined;
}

/** The session's CSRF token: bound to its id, so a token from another session (or none) is refused. */
export function csrfToken(key: Buffer, session: Session): string {
  return mac(key, `csrf:${session.id}`);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0) cookies.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
  }
  return cookies;
}

/** HttpOnly and SameSite=Lax always (Lax: the OAuth callback arrives by a top-level GET from GitHub); Secure over https. */
export function setCookie(name: string, value: string, options: { path: string; maxAgeMs: number; secure: boolean }): string {
  const attributes = [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${Math.floor(options.maxAgeMs / 1000)}`,
    'HttpOnly',
    'SameSite=Lax',
  ];
  if (options.secure) attributes.push('Secure');
  return attributes.join('; ');
}

export function clearCookie(name: string, path: string, secure: boolean): string {
  return setCookie(name, '', { path, maxAgeMs: 0, secure });
}
