import { generateKeyPairSync } from 'node:crypto';
import { csrfToken, newSession, readSession, sessionKey, sign, verify, SESSION_TTL_MS } from '../../../src/web/session.js';
import { testPrivateKey } from '../../helpers/app-key.js';

describe('the cookie key', () => {
  it('is derived from the App private key the same way each time (restarts, replicas), and differs per key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(sessionKey(undefined, testPrivateKey()).equals(sessionKey(undefined, testPrivateKey()))).toBe(true);
    expect(sessionKey(undefined, testPrivateKey()).equals(sessionKey(undefined, other))).toBe(false);
  });

  it('is FLEETBOT_SESSION_SECRET when set, whatever the private key', () => {
    const secret = 'a'.repeat(40);
    expect(sessionKey(secret, testPrivateKey()).equals(sessionKey(secret, undefined))).toBe(true);
    expect(sessionKey(secret, testPrivateKey()).equals(sessionKey(undefined, testPrivateKey()))).toBe(false);
  });

  it('cannot be made from nothing', () => {
    expect(() => sessionKey(undefined, undefined)).toThrow(
      'the dashboard needs FLEETBOT_SESSION_SECRET or the App private key to sign its cookies',
    );
  });
});

describe('signed sessions', () => {
  const key = sessionKey(undefined, testPrivateKey());
  const now = 1_800_000_000_000;

  it('read back what was signed, until they expire', () => {
    const session = newSession('octocat', now);
    const cookie = sign(key, session);
    expect(readSession(key, cookie, now + SESSION_TTL_MS - 1)).toEqual(session);
    expect(readSession(key, cookie, now + SESSION_TTL_MS)).toBeUndefined();
  });

  it('refuse another key’s signature, a changed payload, and text that is not a cookie', () => {
    const cookie = sign(key, newSession('octocat', now));
    expect(readSession(sessionKey('b'.repeat(40), undefined), cookie, now)).toBeUndefined();
    const [, signature] = cookie.split('.');
    const changed = Buffer.from(JSON.stringify({ id: 'x', user: 'admin', expiresAt: now + 1e9 })).toString('base64url');
    expect(readSession(key, `${changed}.${signature}`, now)).toBeUndefined();
    for (const text of [undefined, '', 'abc', '.abc', 'abc.']) expect(verify(key, text)).toBeUndefined();
  });

  it('have CSRF tokens bound to the session: two sessions of one user differ', () => {
    const first = newSession('octocat', now);
    const second = newSession('octocat', now);
    expect(csrfToken(key, first)).toBe(csrfToken(key, first));
    expect(csrfToken(key, first)).not.toBe(csrfToken(key, second));
  });
});
