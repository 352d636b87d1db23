import { readConfig } from '../../../src/config.js';
import { redactSecrets } from '../../../src/terraform/redact.js';

describe('redactSecrets', () => {
  it('leaves text without secrets alone', () => {
    const text = 'Plan: 9 to add, 0 to change, 0 to destroy.\nrole AROAEXAMPLEROLEID1234 arn:aws:iam::123456789012:role/fleetbot-x';
    expect(redactSecrets(text, [])).toBe(text);
  });

  it('redacts long-term and temporary AWS access key ids', () => {
    expect(redactSecrets('key AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A, not AKIA123', [])).toBe(
      'key [REDACTED] and [REDACTED], not AKIA123',
    );
  });

  it("redacts the app's secrets from its configuration, however often they occur", () => {
    const { secretValues } = readConfig({
      WEBHOOK_SECRET: 'a-webhook-secret',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example',
    });
    const text =
      'secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\ntoken "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example" (hook: a-webhook-secret)';
    expect(redactSecrets(text, secretValues)).toBe('secret=[REDACTED]\ntoken "[REDACTED]" (hook: [REDACTED])');
  });

  it('does not mangle text with placeholder credentials too short to be real', () => {
    const { secretValues } = readConfig({ AWS_SECRET_ACCESS_KEY: 'testing' });
    expect(redactSecrets('testing the fleet', secretValues)).toBe('testing the fleet');
  });

  it('redacts every kind of GitHub token', () => {
    const tokens = [
      `ghp_${'a'.repeat(36)}`,
      `gho_${'B1'.repeat(18)}`,
      `ghu_${'c2'.repeat(18)}`,
      `ghs_${'D3'.repeat(18)}`,
      `github_pat_11ABCDEFG0_${'x'.repeat(59)}`,
    ];
    expect(redactSecrets(tokens.map((token) => `Post "http://127.0.0.1:1/${token}": refused`).join('\n'), [])).toBe(
      Array(tokens.length).fill('Post "http://127.0.0.1:1/[REDACTED]": refused').join('\n'),
    );
    expect(redactSecrets('the ghs_ prefix alone, or ghp_short', [])).toBe('the ghs_ prefix alone, or ghp_short');
  });

  it('redacts GitLab tokens: glrt- runner tokens (also the routable kind), glpat- and the rest of the family', () => {
    const tokens = [
      `glrt-${'a1B2'.repeat(5)}`,
      `glrt-t1_${'Zx9_'.repeat(6)}.01.1a2b3c4d5`,
      `glpat-${'k'.repeat(20)}`,
      `glcbt-64_${'q'.repeat(20)}`,
    ];
    expect(redactSecrets(tokens.map((token) => `token = "${token}"`).join('\n'), [])).toBe(
      Array(tokens.length).fill('token = "[REDACTED]"').join('\n'),
    );
    expect(redactSecrets('the glrt- prefix alone, or glrt-short', [])).toBe('the glrt- prefix alone, or glrt-short');
  });

  it('redacts CircleCI personal and project API tokens', () => {
    const personal = `CCIPAT_LpXPnWbE4qAy2uyAZhT5J3_${'0a1b2c3d4e'.repeat(4)}`;
    const project = `CCIPRJ_Xy12Zb_${'f'.repeat(40)}`;
    expect(redactSecrets(`Circle-Token: ${personal}\n${project}`, [])).toBe('Circle-Token: [REDACTED]\n[REDACTED]');
  });

  it('redacts the webhook secret and CI tokens without a pattern by their value, from the environment', () => {
    const { secretValues } = readConfig({
      WEBHOOK_SECRET: 'b1f0c9e8d7a6-webhook',
      CIRCLECI_TOKEN: '0123456789abcdef0123456789abcdef01234567',
      GITLAB_WEBHOOK_TOKEN: 'gitlab-hook-token-value',
      PRIVATE_KEY_PATH: '/run/secrets/fleetbot.pem',
      AWS_REGION: 'eu-west-1',
    });
    const text =
      'hook b1f0c9e8d7a6-webhook; circle 0123456789abcdef0123456789abcdef01234567; gitlab gitlab-hook-token-value; key /run/secrets/fleetbot.pem in eu-west-1';
    expect(redactSecrets(text, secretValues)).toBe(
      'hook [REDACTED]; circle [REDACTED]; gitlab [REDACTED]; key /run/secrets/fleetbot.pem in eu-west-1',
    );
  });

  it('redacts PEM private key blocks, also escaped inside JSON and cut off by a tail', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83Fz\n-----END RSA PRIVATE KEY-----';
    expect(redactSecrets(`before\n${pem}\nafter`, [])).toBe('before\n[REDACTED]\nafter');
    expect(redactSecrets(`"key": "${pem.replaceAll('\n', '\\n')}",`, [])).toBe('"key": "[REDACTED]",');
    expect(redactSecrets('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhki', [])).toBe('[REDACTED]');
    expect(redactSecrets('-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----', [])).toContain('MIIBIjAN');
  });

  it('redacts the secrets it is given, longest first, as literal text', () => {
    expect(redactSecrets('a.b+c and a.b+c-longer and axb+c', ['a.b+c', 'a.b+c-longer', ''])).toBe('[REDACTED] and [REDACTED] and axb+c');
  });
});
