import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terraformEnvironment } from '../../../src/config.js';
import { TerraformCli } from '../../../src/terraform/cli.js';

/** A stand-in for terraform that writes the environment it was given to `env.txt` in its working directory. */
function envRecordingTerraform(dir: string): string {
  const binary = join(dir, 'terraform');
  writeFileSync(binary, '#!/bin/sh\nenv > env.txt\n');
  chmodSync(binary, 0o755);
  return binary;
}

const APP_ENVIRONMENT = {
  PATH: process.env.PATH,
  HOME: '/home/fleetbot',
  HTTPS_PROXY: 'http://proxy.internal:3128',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'aws-session-token-value',
  TF_TOKEN_app_terraform_io: 'terraform-registry-token',
  APP_ID: '123456',
  PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n',
  PRIVATE_KEY_PATH: '/run/secrets/fleetbot.pem',
  WEBHOOK_SECRET: 'webhook-secret-value',
  GITHUB_CLIENT_SECRET: 'oauth-client-secret',
  GITHUB_TOKEN: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  GH_TOKEN: 'ghp_0123456789abcdefghijklmnopqrstuvwxyz',
  GITLAB_TOKEN: 'glpat-abcdefghijklmnopqrst',
  CIRCLECI_TOKEN: 'CCIPAT_abc_0123456789abcdef0123456789abcdef01234567',
  CIRCLE_TOKEN: 'circle-token-value',
  SENTRY_DSN: 'https://key@sentry.example/1',
};

describe("terraform's environment", () => {
  it("has the app's AWS credentials, proxy and PATH, and none of its own secrets", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetbot-tf-env-'));
    const cli = new TerraformCli({
      binary: envRecordingTerraform(dir),
      pluginMirror: null,
      timeoutMs: 10_000,
      stateDir: join(dir, 'state'),
      env: terraformEnvironment(APP_ENVIRONMENT),
      secrets: [],
    });
    await cli.init(dir);
    const seen = Object.fromEntries(
      readFileSync(join(dir, 'env.txt'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(seen).toMatchObject({
      PATH: process.env.PATH,
      HTTPS_PROXY: 'http://proxy.internal:3128',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'aws-session-token-value',
      TF_TOKEN_app_terraform_io: 'terraform-registry-token',
      APP_ID: '123456',
    });
    for (const name of [
      'PRIVATE_KEY',
      'PRIVATE_KEY_PATH',
      'WEBHOOK_SECRET',
      'GITHUB_CLIENT_SECRET',
      'GITHUB_TOKEN',
      'GH_TOKEN',
      'GITLAB_TOKEN',
      'CIRCLECI_TOKEN',
      'CIRCLE_TOKEN',
      'SENTRY_DSN',
    ]) {
      expect(seen).not.toHaveProperty(name);
    }
    expect(readFileSync(join(dir, 'env.txt'), 'utf8')).not.toContain('webhook-secret-value');
  });
});
