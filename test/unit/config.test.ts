import { ConfigError, parseStoreLocation, readConfig } from '../../src/config.js';

describe('FLEETBOT_STORE', () => {
  it('is the SQLite default, ./data/fleetbot.db, when neither it nor FLEETBOT_DB is set', () => {
    expect(readConfig({}).store).toEqual({ kind: 'sqlite', path: './data/fleetbot.db' });
  });

  it('takes FLEETBOT_DB, the older name, as a SQLite path', () => {
    expect(readConfig({ FLEETBOT_DB: '/var/lib/fleetbot.db' }).store).toEqual({ kind: 'sqlite', path: '/var/lib/fleetbot.db' });
  });

  it('wins over FLEETBOT_DB when both are set', () => {
    const env = { FLEETBOT_DB: '/var/lib/fleetbot.db', FLEETBOT_STORE: 'dynamodb:fleetbot-jobs' };
    expect(readConfig(env).store).toEqual({ kind: 'dynamodb', table: 'fleetbot-jobs' });
    expect(readConfig({ ...env, FLEETBOT_STORE: 'sqlite:./other.db' }).store).toEqual({ kind: 'sqlite', path: './other.db' });
  });

  it.each([
    ['postgres://db', '"postgres://db" is neither sqlite:<path> nor dynamodb:<table>'],
    ['sqlite:', 'sqlite: needs a file path'],
    ['dynamodb:', 'dynamodb: needs a table name of 3 to 255 letters, digits, "_", "-" or "." (got "")'],
    ['dynamodb:a b', 'dynamodb: needs a table name of 3 to 255 letters, digits, "_", "-" or "." (got "a b")'],
  ])('refuses %j, saying what it takes', (value, message) => {
    expect(parseStoreLocation(value)).toEqual(expect.stringContaining(message));
    expect(() => readConfig({ FLEETBOT_STORE: value })).toThrow(ConfigError);
    expect(() => readConfig({ FLEETBOT_STORE: value })).toThrow(`FLEETBOT_STORE: ${message}`);
  });

  it('keeps everything after the first colon as the path', () => {
    expect(parseStoreLocation('sqlite:C:/data/fleetbot.db')).toEqual({ kind: 'sqlite', path: 'C:/data/fleetbot.db' });
  });
});

describe('FLEETBOT_METRICS_TOKEN and AWS_REGION', () => {
  it('reads the metrics token as a secret (redacted wherever secrets are), and the region runners are priced in', () => {
    const config = readConfig({ FLEETBOT_METRICS_TOKEN: 'scrape-token-0123', AWS_REGION: 'eu-west-1' });
    expect(config).toMatchObject({ metricsToken: 'scrape-token-0123', awsRegion: 'eu-west-1' });
    expect(config.secretValues).toContain('scrape-token-0123');
  });

  it('leaves /metrics open and the region to the fleets without them, and refuses an empty token', () => {
    expect(readConfig({})).toMatchObject({ metricsToken: undefined, awsRegion: undefined });
    expect(() => readConfig({ FLEETBOT_METRICS_TOKEN: '' })).toThrow(/FLEETBOT_METRICS_TOKEN/);
  });
});
