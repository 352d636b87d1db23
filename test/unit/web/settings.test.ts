import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appPrivateKey, ConfigError, readConfig } from '../../../src/config.js';
import { FleetsFileError, parseFleetsFile } from '../../../src/fleets/file.js';
import { dashboardAccess } from '../../../src/web/access.js';
import { testPrivateKey } from '../../helpers/app-key.js';

function thrownBy(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected it to throw');
}

describe("the dashboard's settings", () => {
  it('reach github.com by default, and GHE_HOST (with GHE_PROTOCOL) as Probot does', () => {
    expect(readConfig({}).github).toEqual({ webUrl: 'https://github.com', apiUrl: 'https://api.github.com' });
    expect(readConfig({ GHE_HOST: 'ghe.example.com' }).github).toEqual({
      webUrl: 'https://ghe.example.com',
      apiUrl: 'https://ghe.example.com/api/v3',
    });
    expect(readConfig({ GHE_HOST: 'ghe:8080', GHE_PROTOCOL: 'http' }).github.apiUrl).toBe('http://ghe:8080/api/v3');
  });

  it('have GitHub sign-in only with both halves of the OAuth client', () => {
    const config = readConfig({ GITHUB_CLIENT_ID: 'Iv1.x', GITHUB_CLIENT_SECRET: 'secret-value' });
    expect(dashboardAccess(config, ['acme'], testPrivateKey()).gitHub).toEqual({
      client: { id: 'Iv1.x', secret: 'secret-value' },
      urls: { webUrl: 'https://github.com', apiUrl: 'https://api.github.com' },
      allow: ['acme'],
    });
    expect(dashboardAccess(readConfig({ GITHUB_CLIENT_ID: 'Iv1.x' }), ['acme'], testPrivateKey()).gitHub).toBeUndefined();
  });

  it('refuse a short token or session secret, and an unknown GHE_PROTOCOL, naming each', () => {
    const error = thrownBy(() => readConfig({ FLEETBOT_DASHBOARD_TOKEN: 'short', FLEETBOT_SESSION_SECRET: 'short', GHE_PROTOCOL: 'ftp' }));
    expect(error).toBeInstanceOf(ConfigError);
    for (const name of ['FLEETBOT_DASHBOARD_TOKEN', 'FLEETBOT_SESSION_SECRET', 'GHE_PROTOCOL']) expect(error.message).toContain(name);
  });

  it('derive the cookie key from the private key however it is given: PRIVATE_KEY (escaped newlines) or PRIVATE_KEY_PATH', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fleetbot-key-')), 'app.pem');
    writeFileSync(path, testPrivateKey());
    expect(appPrivateKey({ PRIVATE_KEY: testPrivateKey().replace(/\n/g, '\\n') })).toBe(testPrivateKey());
    expect(appPrivateKey({ PRIVATE_KEY_PATH: path })).toBe(testPrivateKey());
    expect(appPrivateKey({})).toBeUndefined();
  });

  it('read dashboard.allow from the fleets file: organisations and org/team', () => {
    const file = parseFleetsFile('fleets: []\ndashboard:\n  allow: [acme, acme/platform-team]\n', 'fleetbot.yml');
    expect(file.dashboard).toEqual({ allow: ['acme', 'acme/platform-team'] });
    const error = thrownBy(() => parseFleetsFile('dashboard:\n  allow: ["acme/a/b", "-x"]\n  deny: []\n', 'fleetbot.yml'));
    expect(error).toBeInstanceOf(FleetsFileError);
    expect((error as FleetsFileError).problems).toEqual([
      'dashboard.allow[0]: expected an organisation (acme) or org/team-slug (acme/platform)',
      'dashboard.allow[1]: expected an organisation (acme) or org/team-slug (acme/platform)',
      expect.stringContaining('deny'),
    ]);
  });
});
