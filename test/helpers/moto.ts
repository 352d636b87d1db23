import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

/** A moto_server of one's own, on a free loopback port, for one test file. */
export interface Moto {
  url: string;
  /** Environment for an AWS SDK client or the aws CLI pointed at this server. */
  env: Record<string, string>;
  reset(): Promise<void>;
  /** Keep ECS tasks RUNNING until stopped (moto otherwise advances them on every DescribeTasks). */
  holdEcsTasksRunning(): Promise<void>;
  stop(): Promise<void>;
}

export const motoAvailable = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).status === 0;

/**
 * Integration suites call this instead of `describe`: where moto_server is missing they are skipped
 * with a loud message, except under CI, where a missing emulator is a failure.
 */
export function describeWithMoto(name: string, body: () => void): void {
  if (motoAvailable) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs moto_server on PATH (CI=true makes this a failure)', () => {
        throw new Error('moto_server is not on PATH');
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": moto_server is not on PATH (pip install "moto[server]") ***\n`);
  describe.skip(name, body);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`moto_server did not open port ${port} within ${timeoutMs} ms`);
}

/**
 * moto_server as moto_server runs it (threaded), but handling one request at a time. moto's DynamoDB transactions
 * are not isolated from each other: a threaded server runs them side by side, and one that fails restores
 * a copy of the whole table taken when it began, undoing or resurrecting what others wrote meanwhile
 * (measured: an extra item and HTTP 500s at 200 concurrent transactions on a 1,000-item table).
 * DynamoDB's transactions are serializable; served one request at a time, moto's are too.
 *
 * That whole-table copy also makes every transaction cost as much as the table is big (74 ms at 2,000
 * items). Served one at a time, a transaction only needs the items it touches put back when it fails, so
 * here the table is not copied and those items are journaled instead (3 ms at 2,000 items, whatever the
 * table's size); a failed transaction still leaves the table as it was.
 */
const SERIAL_MOTO = `
import copy, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table

def item_key(table, op):
    if 'Item' in op:
        key = {table.hash_key_attr: op['Item'][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op['Item'][table.range_key_attr]
        return key
    return op['Key']

class TablesNotCopied:
    deepcopy = staticmethod(lambda value, memo=None: value if isinstance(value, Table) else copy.deepcopy(value, memo))

transact = dynamodb_models.DynamoDBBackend.transact_write_items
def transact_with_item_journal(self, transact_items):
    before = {}
    for entry in transact_items:
        op = next(iter(entry.values()))
        name = op.get('TableName')
        if name not in self.tables:
            continue
        key = item_key(self.tables[name], op)
        found = self.get_item(name, key)
        before.setdefault((name, repr(sorted(key.items()))), (name, key, found and copy.deepcopy(found.to_json()['Attributes'])))
    dynamodb_models.copy = TablesNotCopied
    try:
        return transact(self, transact_items)
    except Exception:
        for name, key, attributes in before.values():
            if attributes is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, attributes)
        raise
    finally:
        dynamodb_models.copy = copy
dynamodb_models.DynamoDBBackend.transact_write_items = transact_with_item_journal

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serial(environ, start_response):
    with lock:
        return app(environ, start_response)
run_simple(sys.argv[1], int(sys.argv[2]), serial, threaded=True)
`;

export interface MotoOptions {
  /** One request at a time (see SERIAL_MOTO): for suites that need DynamoDB's transaction isolation. */
  serial?: boolean;
}

export async function startMoto(options: MotoOptions = {}): Promise<Moto> {
  const port = await freePort();
  const [command, args] = options.serial
    ? ['python3', ['-c', SERIAL_MOTO, '127.0.0.1', String(port)]]
    : ['moto_server', ['-H', '127.0.0.1', '-p', String(port)]];
  const child = spawn(command, args, {
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' },
    stdio: 'ignore',
  });
  await waitForPort(port, child, 30_000);
  const url = `http://127.0.0.1:${port}`;
  const post = async (path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    if (!response.ok) throw new Error(`moto ${path}: HTTP ${response.status}`);
  };
  return {
    url,
    env: {
      AWS_ENDPOINT_URL: url,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    },
    reset: () => post('/moto-api/reset'),
    holdEcsTasksRunning: () =>
      post('/moto-api/state-manager/set-transition', {
        model_name: 'ecs::task',
        transition: { progression: 'manual', times: 1_000_000 },
      }),
    stop: async () => {
      // A Ctrl-C in a terminal reaches the whole process group: moto may already have died of it.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
