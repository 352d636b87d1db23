import { randomBytes } from 'node:crypto';
import { startDashboardApp, type DashboardApp } from '../../helpers/web/dashboard-app.js';
import { FakeOperatorView, fleet, job } from '../../helpers/web/fake-operator-view.js';
import { startFakeGitHubOAuth, type FakeGitHubOAuth } from '../../helpers/web/fake-github-oauth.js';

/** The auth paths of /dashboard and the JSON API over HTTP, against the app's own server and a GitHub stand-in. */

const TOKEN = randomBytes(24).toString('hex');
const FLEETS_YAML = 'fleets: []\ndashboard:\n  allow: [acme, other/platform]\n';

let github: FakeGitHubOAuth;
let app: DashboardApp;
let view: FakeOperatorView;
let clock: number;

function cookieOf(response: Response, name: string): string | undefined {
  const line = response.headers.getSetCookie().find((cookie) => cookie.startsWith(`${name}=`));
  return line?.split(';')[0];
}

async function tokenSession(): Promise<string> {
  const response = await fetch(`${app.url}/dashboard?token=${TOKEN}`, { redirect: 'manual' });
  return cookieOf(response, 'fleetbot_session')!;
}

/** The CSRF token the page embeds for this session. */
async function csrfOf(cookie: string): Promise<string> {
  const page = await (await fetch(`${app.url}/dashboard`, { headers: { cookie } })).text();
  return /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
}

/** Sign-in as far as GitHub's answer: the callback response. */
async function signIn(options: { tamperState?: boolean } = {}): Promise<Response> {
  const login = await fetch(`${app.url}/dashboard/login`, { redirect: 'manual' });
  const authorize = await fetch(login.headers.get('location')!, { redirect: 'manual' });
  const callback = new URL(authorize.headers.get('location')!);
  if (options.tamperState) callback.searchParams.set('state', 'chosen-by-someone-else');
  return fetch(callback, { redirect: 'manual', headers: { cookie: cookieOf(login, 'fleetbot_oauth') ?? '' } });
}

beforeAll(async () => {
  github = await startFakeGitHubOAuth();
});

afterAll(async () => {
  await github.close();
});

beforeEach(async () => {
  clock = Date.now();
  view = new FakeOperatorView(
    [fleet('linux', { active: 3, warm: 1, waiting: 2 }), fleet('gpu', { maxRunners: 2 })],
    [],
    [job('101', clock - 60_000)],
  );
  app = await startDashboardApp({
    view,
    now: () => clock,
    fleetsYaml: FLEETS_YAML,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: 'http',
      GITHUB_CLIENT_ID: github.clientId,
      GITHUB_CLIENT_SECRET: github.clientSecret,
      FLEETBOT_DASHBOARD_TOKEN: TOKEN,
    },
  });
  github.callbackUrl = `${app.url}/dashboard/oauth/callback`;
  github.memberships = new Map([
    ['octocat', ['acme']],
    ['teamer', ['other/platform']],
    ['invited', ['pending:acme']],
  ]);
  github.requests.length = 0;
});

afterEach(async () => {
  await app.close();
});

describe('the dashboard without credentials', () => {
  it('answers a page request with the sign-in page and 401, and an API request with 401 JSON', async () => {
    const page = await fetch(`${app.url}/dashboard`);
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('href="/dashboard/login"');
    for (const path of ['/api/status', '/api/jobs', '/api/runners']) {
      const api = await fetch(`${app.url}${path}`);
      expect([path, api.status, api.headers.get('www-authenticate')]).toEqual([path, 401, 'Bearer realm="fleetbot"']);
    }
    const drain = await fetch(`${app.url}/api/fleets/linux/drain`, { method: 'POST' });
    expect(drain.status).toBe(401);
    expect(view.fleetList[0]!.drained).toBe(false);
  });

  it('leaves paths that are not its own to the next handler (404), and answers a wrong method with 405', async () => {
    expect((await fetch(`${app.url}/dashboardx`)).status).toBe(404);
    const wrong = await fetch(`${app.url}/api/status`, { method: 'DELETE' });
    expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'GET']);
  });
});

describe('the dashboard token', () => {
  it('as a bearer token reads the API, and stays out of the log; a wrong one is refused, even with a valid cookie beside it', async () => {
    const status = await fetch(`${app.url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(status.status).toBe(200);
    expect(((await status.json()) as { fleets: { name: string }[] }).fleets.map((entry) => entry.name)).toEqual(['linux', 'gpu']);
    const cookie = await tokenSession();
    const wrong = await fetch(`${app.url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}x`, cookie } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: string }).error).toBe('that bearer token is not the dashboard token');
    // The access log has a line for each request, with its headers: Authorization censored.
    expect(app.logs.some((line) => line.includes('"authorization":"[redacted]"'))).toBe(true);
    expect(app.logs.filter((line) => line.includes(TOKEN))).toEqual([]);
  });

  it('in a link opens a signed, HttpOnly, SameSite session once and redirects to the URL without it; no log line holds it', async () => {
    const response = await fetch(`${app.url}/dashboard?fleet=linux&token=${TOKEN}`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/dashboard?fleet=linux');
    const setCookie = response.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/^fleetbot_session=[\w-]+\.[\w-]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax$/);
    const page = await fetch(`${app.url}/dashboard?fleet=linux`, { headers: { cookie: cookieOf(response, 'fleetbot_session')! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-fleet="linux"');
    const cookieValue = cookieOf(response, 'fleetbot_session')!.split('=')[1]!;
    expect(app.logs.filter((line) => line.includes(TOKEN) || line.includes(cookieValue))).toEqual([]);
    expect(app.logs.some((line) => line.includes('dashboard token link: session opened'))).toBe(true);
  });

  it('in a wrong link gets 401 and no cookie', async () => {
    const response = await fetch(`${app.url}/dashboard?token=not-the-token`, { redirect: 'manual' });
    expect(response.status).toBe(401);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it('over https (a proxy says so) the cookie is Secure', async () => {
    const response = await fetch(`${app.url}/dashboard?token=${TOKEN}`, { redirect: 'manual', headers: { 'x-forwarded-proto': 'https' } });
    expect(response.headers.getSetCookie()[0]).toMatch(/; Secure$/);
  });
});

describe('session cookies', () => {
  it('refuse a forged cookie (payload changed, signature kept) and an expired one', async () => {
    const cookie = await tokenSession();
    const [payload, signature] = cookie.split('=')[1]!.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { user: string; expiresAt: number };
    const forged = Buffer.from(JSON.stringify({ ...claims, user: 'admin', expiresAt: claims.expiresAt + 86_400_000 })).toString(
      'base64url',
    );
    expect((await fetch(`${app.url}/api/status`, { headers: { cookie: `fleetbot_session=${forged}.${signature}` } })).status).toBe(401);
    expect((await fetch(`${app.url}/api/status`, { headers: { cookie } })).status).toBe(200);
    clock += 12 * 3_600_000 + 1;
    expect((await fetch(`${app.url}/api/status`, { headers: { cookie } })).status).toBe(401);
  });
});

describe('CSRF', () => {
  it('a cookie session drains only with its own CSRF token (header or form field)', async () => {
    const cookie = await tokenSession();
    const other = await tokenSession();
    const none = await fetch(`${app.url}/api/fleets/linux/drain`, { method: 'POST', headers: { cookie } });
    expect(none.status).toBe(403);
    const stolen = await fetch(`${app.url}/api/fleets/linux/drain`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': await csrfOf(other) },
    });
    expect(stolen.status).toBe(403);
    expect(view.fleetList[0]!.drained).toBe(false);
    const own = await fetch(`${app.url}/api/fleets/linux/drain`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': await csrfOf(cookie) },
    });
    expect(await own.json()).toEqual({ fleet: 'linux', drained: true, changed: true });
    const form = await fetch(`${app.url}/api/fleets/linux/undrain`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: await csrfOf(cookie) }),
    });
    expect([form.status, form.headers.get('location'), view.fleetList[0]!.drained]).toEqual([303, '/dashboard', false]);
  });

  it('a bearer request needs none; an unknown fleet is 404', async () => {
    const authorization = `Bearer ${TOKEN}`;
    const drain = await fetch(`${app.url}/api/fleets/gpu/drain`, { method: 'POST', headers: { authorization } });
    expect(await drain.json()).toEqual({ fleet: 'gpu', drained: true, changed: true });
    const again = await fetch(`${app.url}/api/fleets/gpu/drain`, { method: 'POST', headers: { authorization } });
    expect(await again.json()).toEqual({ fleet: 'gpu', drained: true, changed: false });
    const unknown = await fetch(`${app.url}/api/fleets/nope/undrain`, { method: 'POST', headers: { authorization } });
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'no fleet is named "nope"' }]);
  });

  it('logout needs the CSRF token, then clears the session cookie', async () => {
    const cookie = await tokenSession();
    expect((await fetch(`${app.url}/dashboard/logout`, { method: 'POST', headers: { cookie } })).status).toBe(403);
    const out = await fetch(`${app.url}/dashboard/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: await csrfOf(cookie) }),
    });
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie()[0]).toMatch(/^fleetbot_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
  });
});

describe('the JSON API', () => {
  const authorization = `Bearer ${TOKEN}`;

  it('passes the job filters to the view and answers JobView[]', async () => {
    const since = clock - 3_600_000;
    const response = await fetch(`${app.url}/api/jobs?fleet=linux&ci=github&state=completed&since=${since}&limit=5`, {
      headers: { authorization },
    });
    expect(((await response.json()) as { jobId: string }[]).map((entry) => entry.jobId)).toEqual(['101']);
    expect(view.calls.filter((call) => call.method === 'jobs').at(-1)!.argument).toEqual({
      fleet: 'linux',
      ci: 'github',
      status: 'completed',
      since,
      limit: 5,
    });
  });

  it('lists each invalid query parameter in one 400', async () => {
    const response = await fetch(`${app.url}/api/jobs?ci=jenkins&state=done&since=yesterday&limit=0&colour=red`, {
      headers: { authorization },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid query',
      problems: [
        'colour: unknown parameter (known: fleet, ci, state, since, limit)',
        'ci: "jenkins" is not one of github, gitlab, circleci',
        'state: "done" is not one of waiting, launching, launched, completed, abandoned, unmatched',
        'since: "yesterday" is not a whole number from 0 to 9007199254740991',
        'limit: "0" is not a whole number from 1 to 1000',
      ],
    });
    const runners = await fetch(`${app.url}/api/runners?fleet=linux&state=x`, { headers: { authorization } });
    expect([runners.status, ((await runners.json()) as { problems: string[] }).problems]).toEqual([
      400,
      ['state: unknown parameter (known: fleet)'],
    ]);
  });
});

describe('bad requests and failures', () => {
  const authorization = `Bearer ${TOKEN}`;

  it('answers a signed-in page with bad filters by 400, naming them', async () => {
    const cookie = await tokenSession();
    const response = await fetch(`${app.url}/dashboard?state=done`, { headers: { cookie } });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Invalid filters: state: &quot;done&quot; is not one of');
  });

  it('refuses a drain body over 16 KiB with 413, draining nothing', async () => {
    const response = await fetch(`${app.url}/api/fleets/linux/drain`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${'x'.repeat(20_000)}`,
    });
    expect(response.status).toBe(413);
    expect(view.fleetList[0]!.drained).toBe(false);
  });

  it('answers a failing view with 500 and logs it', async () => {
    view.status = () => Promise.reject(new Error('the store is gone'));
    const response = await fetch(`${app.url}/api/status`, { headers: { authorization } });
    expect([response.status, await response.json()]).toEqual([500, { error: 'internal error; see the app log' }]);
    expect(app.logs.some((line) => line.includes('dashboard request failed') && line.includes('the store is gone'))).toBe(true);
  });
});

describe('GitHub sign-in', () => {
  it('lets a member of an allowed organisation in, asking GHE_HOST with the App’s OAuth client and scope read:org', async () => {
    github.signInAs = 'octocat';
    const callback = await signIn();
    expect([callback.status, callback.headers.get('location')]).toEqual([303, '/dashboard']);
    const session = cookieOf(callback, 'fleetbot_session')!;
    expect(callback.headers.getSetCookie().some((cookie) => cookie.startsWith('fleetbot_oauth=; Path=/dashboard/oauth; Max-Age=0'))).toBe(
      true,
    );
    const page = await fetch(`${app.url}/dashboard`, { headers: { cookie: session } });
    expect(await page.text()).toContain('<span>octocat</span>');
    const authorize = github.requests.find((request) => request.startsWith('GET /login/oauth/authorize'))!;
    expect(new URL(authorize.slice(4), 'http://x').searchParams.get('scope')).toBe('read:org');
    expect(github.requests.filter((request) => !request.startsWith('GET /login/oauth/authorize'))).toEqual([
      'POST /login/oauth/access_token',
      'GET /api/v3/user',
      'GET /api/v3/user/memberships/orgs/acme',
    ]);
    expect(app.logs.filter((line) => /code=/.test(line))).toEqual([]);
  });

  it('lets a member of an allowed team in', async () => {
    github.signInAs = 'teamer';
    const callback = await signIn();
    expect(callback.status).toBe(303);
    expect(github.requests).toContain('GET /api/v3/orgs/other/teams/platform/memberships/teamer');
  });

  it('refuses a user in none of them, and one only invited (pending), with 403 and no session', async () => {
    for (const login of ['stranger', 'invited']) {
      github.signInAs = login;
      const callback = await signIn();
      expect([login, callback.status, cookieOf(callback, 'fleetbot_session')]).toEqual([login, 403, undefined]);
      expect(await callback.text()).toContain(`${login} is not an active member of acme, other/platform.`);
    }
  });

  it('refuses a callback whose state is not the one this browser started with, before any call to GitHub', async () => {
    const callback = await signIn({ tamperState: true });
    expect([callback.status, cookieOf(callback, 'fleetbot_session')]).toEqual([400, undefined]);
    expect(github.requests.filter((request) => request.startsWith('POST /login/oauth/access_token'))).toEqual([]);
    const noCookie = await fetch(`${app.url}/dashboard/oauth/callback?code=x&state=y`, { redirect: 'manual' });
    expect(noCookie.status).toBe(400);
  });

  it('shows a code GitHub refuses as a failed sign-in (502), not an error', async () => {
    const login = await fetch(`${app.url}/dashboard/login`, { redirect: 'manual' });
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const callback = await fetch(`${app.url}/dashboard/oauth/callback?code=used&state=${state}`, {
      redirect: 'manual',
      headers: { cookie: cookieOf(login, 'fleetbot_oauth')! },
    });
    expect(callback.status).toBe(502);
    expect(await callback.text()).toContain('GitHub refused the sign-in code (The code passed is incorrect or expired.)');
  });
});
