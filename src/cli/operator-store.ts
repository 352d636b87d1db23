import { FleetRegistry } from '../fleets/registry.js';
import type { OperatorView } from '../operator/types.js';
import { openStores } from '../store/open.js';
import type { IssueOpsStore, Store } from '../store/types.js';
import { appConfig, appFleets, awsClients, githubWebUrl, sqlitePath } from './app-environment.js';
import type { CliContext } from './command.js';
import { viewSource, type OperatorSource } from './operator-source.js';

/** createOperatorView's signature (src/operator/view.ts): what builds the read model over a store. */
export type OperatorViewFactory = (deps: {
  store: Store;
  issueOps?: IssueOpsStore;
  fleets: FleetRegistry;
  githubWebUrl?: string;
}) => OperatorView;

/**
 * Store mode: the store, fleets and GitHub host the app is configured with, and the read model over them.
 * The CLI does not serve a backlog it undrains: the app's replicas do, at their next reconcile pass.
 */
export async function openStoreSource(context: CliContext, createView: OperatorViewFactory): Promise<OperatorSource> {
  const config = appConfig(context);
  const fleets = await appFleets(context, config);
  const location =
    config.store.kind === 'sqlite' ? { kind: 'sqlite' as const, path: sqlitePath(context, config.store.path) } : config.store;
  const stores = await openStores(location, { dynamodb: awsClients(context.env).dynamodb, retentionMs: config.retentionMs });
  const view = createView({
    store: stores.jobs,
    // Only an IssueOps installation has requests to show and fleets being deleted.
    issueOps: fleets.issueops ? stores.issueOps : undefined,
    fleets: new FleetRegistry(fleets.fleets),
    githubWebUrl: githubWebUrl(context.env),
  });
  return viewSource(view, () => stores.close());
}
