import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';

/** Reads a secret by its SSM parameter name. */
export interface SecretReader {
  read(parameterName: string): Promise<string>;
}

interface CachedValue {
  value: Promise<string>;
  readAt: number;
}

/**
 * Secrets the app itself uses (GitLab tokens, webhook secrets), read from SSM with decryption and
 * kept for a short while: a burst of webhooks then costs one GetParameter per secret, and a rotated
 * secret is picked up within `ttlMs`. Concurrent readers share one request; failures are not kept.
 * Values are never logged; errors carry only the SDK's message, which never holds the value.
 */
export class CachedParameters implements SecretReader {
  private readonly cache = new Map<string, CachedValue>();

  constructor(
    private readonly ssm: SSMClient,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  read(parameterName: string): Promise<string> {
    const cached = this.cache.get(parameterName);
    if (cached && this.now() - cached.readAt < this.ttlMs) return cached.value;
    const value = this.fetch(parameterName);
    const entry = { value, readAt: this.now() };
    this.cache.set(parameterName, entry);
    value.catch(() => {
      if (this.cache.get(parameterName) === entry) this.cache.delete(parameterName);
    });
    return value;
  }

  private async fetch(parameterName: string): Promise<string> {
    const result = await this.ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    const value = result.Parameter?.Value;
    if (!value) throw new Error(`SSM parameter ${parameterName} has no value`);
    return value;
  }
}
