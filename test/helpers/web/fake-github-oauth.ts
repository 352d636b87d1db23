import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for GitHub's side of the dashboard's sign-in, reached as a GitHub Enterprise Server host
 * (GHE_HOST=<host>, GHE_PROTOCOL=http): the authorize page (it approves at once, as `signInAs`, and sends
 * the browser to the App's registered callback URL, as GitHub does when the request names no redirect_uri),
 * the code exchange, `GET /user`, and the two membership endpoints. It answers as GitHub documents,
 * and records what it was asked.
 */
export interface FakeGitHubOAuth {
  host: string;
  url: string;
  clientId: string;
  clientSecret: string;
  /** The App's registered callback URL; set by the test once the app's port is known. */
  callbackUrl: string;
  /** Who the next authorization signs in. */
  signInAs: string;
  /** Active organisation memberships (`acme`) and team memberships (`acme/platform`) by login; `pending:` prefix for an invitation. */
  memberships: Map<string, string[]>;
  /** Each request, as "METHOD path?query" (the code exchange's body is not kept). */
  requests: string[];
  close(): Promise<void>;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function body(request: IncomingMessage): Promise<Record<string, string>> {
  let text = '';
  for await (const chunk of request) text += chunk;
  return JSON.parse(text || '{}') as Record<string, string>;
}

export async function startFakeGitHubOAuth(): Promise<FakeGitHubOAuth> {
  const codes = new Map<string, string>();
  const tokens = new Map<string, string>();
  const fake = {
    clientId: 'Iv1.dashboardtest',
    clientSecret: randomBytes(20).toString('hex'),
    callbackUrl: '',
    signInAs: 'octocat',
    memberships: new Map<string, string[]>(),
    requests: [] as string[],
  };
  const membership = (login: string, entry: string) => fake.memberships.get(login)?.find((held) => held.replace(/^pending:/, '') === entry);
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    fake.requests.push(`${request.method} ${url.pathname}${url.search}`);
    void (async () => {
      if (url.pathname === '/login/oauth/authorize') {
        if (url.searchParams.get('client_id') !== fake.clientId) return json(response, 404, { error: 'unknown client' });
        const code = randomBytes(8).toString('hex');
        codes.set(code, fake.signInAs);
        const back = new URL(fake.callbackUrl);
        back.searchParams.set('code', code);
        back.searchParams.set('state', url.searchParams.get('state') ?? '');
        response.writeHead(302, { location: back.toString() }).end();
        return;
      }
      if (url.pathname === '/login/oauth/access_token' && request.method === 'POST') {
        const sent = await body(request);
        const login = codes.get(sent.code ?? '');
        codes.delete(sent.code ?? '');
        if (sent.client_id !== fake.clientId || sent.client_secret !== fake.clientSecret || !login) {
          return json(response, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
        }
        const token = `ghu_${randomBytes(12).toString('hex')}`;
        tokens.set(token, login);
        return json(response, 200, { access_token: token, token_type: 'bearer', scope: '' });
      }
      const login = tokens.get((request.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (!login) return json(response, 401, { message: 'Bad credentials' });
      if (url.pathname === '/api/v3/user') return json(response, 200, { login, id: 1 });
      const org = /^\/api\/v3\/user\/memberships\/orgs\/([^/]+)$/.exec(url.pathname);
      const team = /^\/api\/v3\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(url.pathname);
      const entry = org ? org[1]! : team ? `${team[1]}/${team[2]}` : undefined;
      if (!entry || (team && team[3] !== login)) return json(response, 404, { message: 'Not Found' });
      const held = membership(login, entry);
      if (!held) return json(response, 404, { message: 'Not Found' });
      return json(response, 200, { state: held.startsWith('pending:') ? 'pending' : 'active', role: 'member' });
    })().catch((error: unknown) => json(response, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(fake, {
    host,
    url: `http://${host}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
