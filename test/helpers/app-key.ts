import { generateKeyPairSync } from 'node:crypto';

/**
 * The test App's credentials, in a module of their own: the app process helper and the sandbox need them
 * without loading the in-process app harness (Probot, pino, every src module).
 */

export const WEBHOOK_SECRET = 'test-webhook-secret';

let cachedKey: string | undefined;
/** An App private key made for the tests (never a real one). */
export function testPrivateKey(): string {
  cachedKey ??= generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
  return cachedKey;
}
