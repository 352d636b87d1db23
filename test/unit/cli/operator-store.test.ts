import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, EXIT } from '../../../src/cli/command.js';
import { openStoreSource, type OperatorViewFactory } from '../../../src/cli/operator-store.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { failure } from '../../helpers/failure.js';
import { captureContext } from './cli-context.js';
import { FakeOperatorView } from './fake-operator-view.js';

const FLEETS = `fleets:
  - name: linux-small
    labels: [self-hosted, linux]
    maxRunners: 4
    compute: { type: ecs, cluster: runners, taskDefinition: gh-runner, subnets: [subnet-1] }
`;

describe('store mode: the store, fleets and GitHub host the app is configured with', () => {
  let dir: string;
  let given: Parameters<OperatorViewFactory>[0][];
  const factory: OperatorViewFactory = (deps) => (given.push(deps), new FakeOperatorView());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetbot-cli-store-'));
    given = [];
    writeFileSync(join(dir, 'fleetbot.yml'), FLEETS);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens FLEETBOT_DB relative to the working directory, with the fleets file and GHE_HOST, and closes it', async () => {
    await new SqliteStore(join(dir, 'app.db')).close();
    const source = await openStoreSource(captureContext(dir, { FLEETBOT_DB: './app.db', GHE_HOST: 'ghe.example.com' }), factory);
    expect(given).toHaveLength(1);
    expect(given[0].store).toBeInstanceOf(SqliteStore);
    expect(given[0].fleets.all().map((fleet) => fleet.name)).toEqual(['linux-small']);
    expect(given[0].githubWebUrl).toBe('https://ghe.example.com');
    // No issueops section in the fleets file: no IssueOps state to show.
    expect(given[0].issueOps).toBeUndefined();
    expect((await source.status()).fleets.map((fleet) => fleet.name)).toEqual(['linux-small', 'gitlab-docker']);
    await source.close();
    // Closed: the store refuses further use.
    await expect(given[0].store.activeRunners()).rejects.toThrow();
  });

  it('gives the view the IssueOps state when the fleets file has an issueops section', async () => {
    writeFileSync(join(dir, 'fleetbot.yml'), `${FLEETS}issueops:\n  repository: acme/runner-fleets\n`);
    await new SqliteStore(join(dir, 'app.db')).close();
    const source = await openStoreSource(captureContext(dir, { FLEETBOT_DB: './app.db' }), factory);
    expect(given[0].issueOps).toBeDefined();
    expect(given[0].githubWebUrl).toBe('https://github.com');
    await source.close();
  });

  it('refuses a SQLite file that does not exist rather than create an empty store (exit 1)', async () => {
    const error = await failure(openStoreSource(captureContext(dir, { FLEETBOT_STORE: 'sqlite:./missing.db' }), factory));
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).exitCode).toBe(EXIT.failed);
    expect((error as Error).message).toBe(
      `no store at ${join(dir, 'missing.db')}: set FLEETBOT_STORE (or FLEETBOT_DB) as the app has it, or run where the app runs`,
    );
    expect(existsSync(join(dir, 'missing.db'))).toBe(false);
    expect(given).toEqual([]);
  });

  it('an invalid environment is a usage error (exit 2); an invalid fleets file a failure (exit 1)', async () => {
    const badEnv = await failure(openStoreSource(captureContext(dir, { FLEETBOT_STORE: 'redis:x' }), factory));
    expect((badEnv as CommandError).exitCode).toBe(EXIT.usage);
    expect((badEnv as Error).message).toContain('"redis:x" is neither sqlite:<path> nor dynamodb:<table>');
    writeFileSync(join(dir, 'fleetbot.yml'), 'fleets: [{ name: x }]\n');
    await new SqliteStore(join(dir, 'app.db')).close();
    const badFile = await failure(openStoreSource(captureContext(dir, { FLEETBOT_DB: './app.db' }), factory));
    expect((badFile as CommandError).exitCode).toBe(EXIT.failed);
    expect((badFile as Error).message).toContain('is not a valid fleets file');
  });
});
