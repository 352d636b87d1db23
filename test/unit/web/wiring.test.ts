import { SSMClient } from '@aws-sdk/client-ssm';
import { Probot } from 'probot';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { createFleetbot, type FleetbotOptions } from '../../../src/index.js';
import { RunnerSecrets } from '../../../src/secrets/ssm.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { testPrivateKey } from '../../helpers/app-key.js';
import { routerFor } from '../../helpers/compute-router.js';
import { FakeOperatorView } from '../../helpers/web/fake-operator-view.js';

describe("the dashboard's wiring", () => {
  function options(extra: Partial<FleetbotOptions>): FleetbotOptions {
    return {
      store: new SqliteStore(':memory:'),
      fleets: new FleetRegistry([]),
      compute: routerFor({}),
      credentials: new RunnerSecrets(new SSMClient({ region: 'eu-west-1' })),
      ciSystems: [],
      githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      launchTimeoutMs: 60_000,
      periodicWork: false,
      ...extra,
    };
  }

  it("registers the dashboard's handler with the view, and only /metrics' without it", async () => {
    for (const [extra, handlers] of [
      [{}, 1],
      [{ operatorView: new FakeOperatorView([]), dashboard: { sessionKey: Buffer.alloc(32) } }, 2],
    ] as const) {
      const added: unknown[] = [];
      const probot = new Probot({ appId: 1, privateKey: testPrivateKey() });
      await probot.load(createFleetbot(options(extra)).app, { addHandler: (handler: unknown) => added.push(handler) } as never);
      expect(added).toHaveLength(handlers);
    }
  });

  it('refuses a view without access settings: nobody could be let in', async () => {
    const probot = new Probot({ appId: 1, privateKey: testPrivateKey() });
    const app = createFleetbot(options({ operatorView: new FakeOperatorView([]) })).app;
    await expect(probot.load(app, { addHandler: () => undefined } as never)).rejects.toThrow('operatorView needs dashboard');
  });
});
