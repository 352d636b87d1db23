import { SSMClient } from '@aws-sdk/client-ssm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfig } from '../../../src/config.js';
import { parseFleetsFile } from '../../../src/fleets/file.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { createFleetbot } from '../../../src/index.js';
import { createAppLog } from '../../../src/log.js';
import type { OperatorView } from '../../../src/operator/types.js';
import { RunnerSecrets } from '../../../src/secrets/ssm.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { dashboardAccess } from '../../../src/web/access.js';
import { testPrivateKey } from '../app-key.js';
import { routerFor } from '../compute-router.js';
import { logLines } from '../log-lines.js';
import { serveOnProbot } from '../probot-server.js';

export interface DashboardApp {
  url: string;
  /** Every log line, access log included, as JSON text. */
  logs: string[];
  close(): Promise<void>;
}

/**
 * The app as `npm start` serves it (Probot's server, fleetbot's routes registered through `addHandler`),
 * with the dashboard given `view`; its access read from `env` by the configuration and from the fleets
 * file's `dashboard` section (`fleetsYaml`), as assemble.ts reads them. No CI system, no periodic work.
 */
export async function startDashboardApp(options: {
  view: OperatorView;
  env: Record<string, string>;
  fleetsYaml: string;
  now?: () => number;
}) {
  const config = readConfig(options.env);
  const file = parseFleetsFile(options.fleetsYaml, 'fleetbot.yml');
  const { lines: logs, sink } = logLines();
  // The app's own logger, as main.ts makes it: its redaction and its access-log omissions are under test too.
  const log = await createAppLog({ LOG_FORMAT: 'json', LOG_LEVEL: 'debug' }, sink);
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'fleetbot-web-')), 'fleetbot.db'));
  const secrets = new RunnerSecrets(new SSMClient({ region: 'eu-west-1' }));
  const fleetbot = createFleetbot({
    store,
    fleets: new FleetRegistry(file.fleets),
    compute: routerFor({}),
    credentials: secrets,
    ciSystems: [],
    githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    launchTimeoutMs: 60_000,
    periodicWork: false,
    now: options.now,
    operatorView: options.view,
    dashboard: dashboardAccess(config, file.dashboard?.allow ?? [], testPrivateKey()),
  });
  const { url, server } = await serveOnProbot(fleetbot.app, log);
  return {
    url,
    logs,
    close: async () => {
      await server.stop();
      await fleetbot.stop();
      await store.close();
    },
  } satisfies DashboardApp;
}
