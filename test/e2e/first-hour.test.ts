import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { testPrivateKey } from '../helpers/app-harness.js';
import { eventually, sign, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { queuedJob } from '../helpers/payloads.js';

/**
 * What a new user does first, as the README tells it: `GH_ORG=<org> npm start`, register the App from the
 * setup page, start again with the `.env` the setup page wrote, and receive webhooks through smee.
 * Each app runs in a folder of its own, holding what `npm start` finds in a checkout (package.json, app.yml).
 */
describe('the first hour', () => {
  let app: AppProcess | undefined;
  const servers: Server[] = [];

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((done) => server.close(done));
      }),
    );
  });

  it("serves a setup page whose form registers the App under GH_ORG's organisation", async () => {
    app = await startAppProcess(baseEnvironment({ GH_ORG: 'acme' }), { cwd: checkoutFolder() });

    const form = setupForm(await (await fetch(`${app.url}/probot`)).text());

    expect(form.action).toBe('https://github.com/organizations/acme/settings/apps/new');
    const appYml = parseYaml(readFileSync('app.yml', 'utf8')) as Record<string, unknown>;
    expect(form.manifest).toMatchObject({
      name: 'fleetbot',
      public: false,
      default_events: appYml.default_events,
      default_permissions: appYml.default_permissions,
      redirect_url: `${app.url}/probot/setup`,
    });
  });

  it('registers under the organisation of a GitHub Enterprise Server too', async () => {
    app = await startAppProcess(baseEnvironment({ GH_ORG: 'platform', GHE_HOST: 'ghe.example.com' }), { cwd: checkoutFolder() });

    const form = setupForm(await (await fetch(`${app.url}/probot`)).text());

    expect(form.action).toBe('https://ghe.example.com/organizations/platform/settings/apps/new');
  });

  it('writes the credentials GitHub returns to .env, and the next start runs fleetbot with them', async () => {
    const github = await startManifestConversionStandIn();
    servers.push(github.server);
    const folder = checkoutFolder();
    const environment = baseEnvironment({ GH_ORG: 'acme', GHE_HOST: github.host, GHE_PROTOCOL: 'http' });
    app = await startAppProcess(environment, { cwd: folder });

    // GitHub sends the browser back with a code once the App is created; the setup page trades it for credentials.
    const setup = await fetch(`${app.url}/probot/setup?code=manifest-code-1`, { redirect: 'manual' });
    expect(setup.status).toBe(302);
    expect(github.conversions).toEqual(['manifest-code-1']);
    const written = parseEnv(readFileSync(join(folder, '.env'), 'utf8'));
    expect(written).toMatchObject({ APP_ID: '4711', WEBHOOK_SECRET: github.webhookSecret });
    expect(written.PRIVATE_KEY).toContain('BEGIN RSA PRIVATE KEY');
    await app.stop();

    // The second `npm start`: no credentials in the environment, only in .env.
    app = await startAppProcess(environment, { cwd: folder });
    const payload = queuedJob({ jobId: 90210, labels: ['self-hosted', 'gpu'], org: 'acme' });
    const body = JSON.stringify(payload);
    const delivered = await postSigned(app.url, body, sign(body, github.webhookSecret));

    expect(delivered).toBe(200);
    await eventually(
      'the job handled by fleetbot',
      async () => app!.output().includes('no fleet serves labels [self-hosted, gpu]') || undefined,
    );
    const refused = await postSigned(app.url, body, sign(body, 'the-old-secret'));
    expect(refused).toBeGreaterThanOrEqual(400);
    expect(refused).toBeLessThan(500);
  });

  it('asks smee.io for a channel on the first start, and registers the App with it as the webhook URL', async () => {
    const smee = await startSmeeNewChannelStandIn();
    servers.push(...smee.servers);
    const folder = checkoutFolder();
    const { NO_SMEE_SETUP: _, ...environment } = baseEnvironment({ GH_ORG: 'acme' });
    app = await startAppProcess({ ...environment, HTTPS_PROXY: smee.proxyUrl, NODE_EXTRA_CA_CERTS: smee.caFile }, { cwd: folder });

    const form = setupForm(await (await fetch(`${app.url}/probot`)).text());

    expect(smee.channelsCreated()).toBe(1);
    expect(form.manifest).toMatchObject({ hook_attributes: { url: 'https://smee.io/fleetbot-test-channel' } });
    expect(parseEnv(readFileSync(join(folder, '.env'), 'utf8')).WEBHOOK_PROXY_URL).toBe('https://smee.io/fleetbot-test-channel');
  });

  it('stops on Ctrl-C through its own shutdown, as on SIGTERM', async () => {
    const folder = checkoutFolder();
    app = await startAppProcess(
      { ...baseEnvironment({}), APP_ID: '1', PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: 's' },
      { cwd: folder },
    );

    process.kill(app.pid, 'SIGINT');

    await eventually('the app to exit', async () => (isRunning(app!.pid) ? undefined : true));
    expect(app.output()).toContain('fleetbot: SIGINT, stopping');
  });

  it('forwards deliveries from a smee channel (WEBHOOK_PROXY_URL) to /api/github/webhooks', async () => {
    const channel = await startSmeeChannelStandIn();
    servers.push(channel.server);
    app = await startAppProcess(
      { ...baseEnvironment({}), APP_ID: '1', PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: 'smee-secret', WEBHOOK_PROXY_URL: channel.url },
      { cwd: checkoutFolder() },
    );
    await eventually('the smee client connected', async () => channel.connected() || undefined);

    const payload = queuedJob({ jobId: 31337, labels: ['self-hosted', 'arm64'], org: 'acme' });
    channel.deliver({
      'x-github-event': 'workflow_job',
      'x-github-delivery': 'smee-delivery-1',
      'x-hub-signature-256': sign(JSON.stringify(payload), 'smee-secret'),
      body: payload,
    });

    await eventually(
      'the forwarded job handled by fleetbot',
      async () => app!.output().includes('no fleet serves labels [self-hosted, arm64]') || undefined,
    );
    expect(app.output()).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/api\/github\/webhooks - 200/);
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What the app needs besides credentials: a clean environment, so nothing of the developer's leaks in. */
function baseEnvironment(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: mkdtempSync(join(tmpdir(), 'fleetbot-home-')),
    LOG_FORMAT: 'json',
    // The setup page would otherwise ask smee.io for a channel, which needs the internet.
    NO_SMEE_SETUP: 'true',
    AWS_REGION: 'us-east-1',
    ...extra,
  };
}

/** A folder with what Probot's setup page reads from the working directory, as in a fresh checkout. */
function checkoutFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'fleetbot-checkout-'));
  for (const file of ['package.json', 'app.yml']) copyFileSync(resolve(file), join(folder, file));
  return folder;
}

function setupForm(html: string): { action: string; manifest: Record<string, unknown> } {
  const action = /<form action="([^"]+)"/.exec(html)?.[1];
  const manifest = /name="manifest" id="manifest" value='([^']+)'/.exec(html)?.[1];
  if (!action || !manifest) throw new Error(`no registration form in the setup page:\n${html}`);
  return { action, manifest: JSON.parse(manifest) as Record<string, unknown> };
}

async function postSigned(url: string, body: string, signature: string): Promise<number> {
  const response = await fetch(`${url}/api/github/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'workflow_job',
      'x-github-delivery': crypto.randomUUID(),
      'x-hub-signature-256': signature,
    },
    body,
  });
  return response.status;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GitHub's side of the manifest flow: `POST /app-manifests/{code}/conversions` answers the new App's credentials. */
async function startManifestConversionStandIn() {
  const conversions: string[] = [];
  const webhookSecret = 'secret-from-github';
  const server = createServer((request, response) => {
    const code = /^\/api\/v3\/app-manifests\/([^/]+)\/conversions$/.exec(request.url ?? '')?.[1];
    if (request.method !== 'POST' || !code) {
      response.writeHead(404).end();
      return;
    }
    conversions.push(code);
    response.writeHead(201, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: 4711,
        slug: 'fleetbot-acme',
        html_url: 'https://github.com/apps/fleetbot-acme',
        client_id: 'Iv1.0123456789abcdef',
        client_secret: 'client-secret',
        webhook_secret: webhookSecret,
        pem: testPrivateKey(),
        owner: { login: 'acme', type: 'Organization' },
      }),
    );
  });
  return { server, host: await listen(server), conversions, webhookSecret };
}

/**
 * smee.io's channel as its client sees it: a server-sent event stream whose messages carry a delivery's
 * headers and JSON body, which the client replays as a POST to the local webhook route.
 */
async function startSmeeChannelStandIn() {
  const subscribers: ServerResponse[] = [];
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/fleetbot-channel') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.write('event: ready\ndata: {}\n\n');
    subscribers.push(response);
    request.on('close', () => subscribers.splice(subscribers.indexOf(response), 1));
  });
  const host = await listen(server);
  return {
    server,
    url: `http://${host}/fleetbot-channel`,
    connected: () => subscribers.length > 0,
    deliver: (message: Record<string, unknown>) => {
      const data = JSON.stringify({ ...message, query: {}, timestamp: Date.now() });
      for (const subscriber of subscribers) subscriber.write(`data: ${data}\n\n`);
    },
  };
}

/**
 * smee.io's `HEAD /new` (a redirect to a fresh channel), reached the way the setup page's client reaches it:
 * through HTTPS_PROXY, here a local CONNECT proxy in front of a TLS server with a certificate for smee.io that
 * the app trusts through NODE_EXTRA_CA_CERTS. Nothing leaves the machine.
 */
async function startSmeeNewChannelStandIn() {
  const folder = mkdtempSync(join(tmpdir(), 'fleetbot-smee-tls-'));
  const [keyFile, caFile] = [join(folder, 'key.pem'), join(folder, 'cert.pem')];
  const certificate = ['-subj', '/CN=smee.io', '-addext', 'subjectAltName=DNS:smee.io', '-days', '1'];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', ...certificate, '-keyout', keyFile, '-out', caFile], {
    stdio: 'ignore',
  });
  let created = 0;
  const smee = createTlsServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (request, response) => {
    if (request.method === 'HEAD' && request.url === '/new') {
      created += 1;
      response.writeHead(307, { location: 'https://smee.io/fleetbot-test-channel' }).end();
      return;
    }
    response.writeHead(404).end();
  });
  const smeeAddress = await listen(smee as unknown as Server);
  const proxy = createServer((_, response) => response.writeHead(405).end());
  proxy.on('connect', (request, clientSocket, head) => {
    if (request.url !== 'smee.io:443') {
      clientSocket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const [host, port] = smeeAddress.split(':');
    const upstream = connect(Number(port), host, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(clientSocket).pipe(upstream);
    });
    upstream.on('error', () => clientSocket.destroy());
    clientSocket.on('error', () => upstream.destroy());
  });
  const proxyAddress = await listen(proxy);
  return {
    servers: [smee as unknown as Server, proxy],
    proxyUrl: `http://${proxyAddress}`,
    caFile,
    channelsCreated: () => created,
  };
}
