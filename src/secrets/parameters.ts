import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { SecretReader } from './types.js';

export const DEFAULT_SECRET_TTL_MS = 60_000;

/**
 * SSM SecureStrings, decrypted, each cached for a short while: pollers ask for the same token every
 * few seconds, and a rotated token is picked up within `ttlMs`. Failed reads are not cached.
 */
export class CachedSecretParameters implements SecretReader {
  private readonly cache = new Map<string, { value: Promise<string>; readAt: number }>();

  constructor(
    private readonly ssm: SSMClient,
    private readonly ttlMs: number = DEFAULT_SECRET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  read(name: string): Promise<string> {
    const cached = this.cache.get(name);
    if (cached && this.now() - cached.readAt < this.ttlMs) return cached.value;
    const value = this.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true })).then((result) => {
      const secret = result.Parameter?.Value;
      if (!secret) throw new Error(`SSM parameter ${name} has no value`);
      return secret;
    });
    const entry = { value, readAt: this.now() };
    this.cache.set(name, entry);
    value.catch(() => {
      if (this.cache.get(name) === entry) this.cache.delete(name);
    });
    return value;
  }

  forget(name: string): void {
    this.cache.delete(name);
  }
}
