import { EXIT, type Command } from '../../../src/cli/command.js';
import { appOctokit } from '../../../src/cli/app-environment.js';
import { createDeliveriesCommand, createRedeliverCommand } from '../../../src/cli/deliveries.js';
import { main } from '../../../src/cli/main.js';
import type { HookDelivery } from '../../../src/ci/github-deliveries.js';
import { testPrivateKey } from '../../helpers/app-key.js';
import { startFakeGitHub, type FakeGitHub } from '../../helpers/fake-github.js';
import { captureContext } from './cli-context.js';

const NOW = Date.now();
const minutesAgo = (minutes: number) => new Date(NOW - minutes * 60_000);

describe('fleetbot deliveries and redeliver (as the App, against the fake GitHub)', () => {
  let github: FakeGitHub;
  let env: NodeJS.ProcessEnv;
  const deps = { appOctokit, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }, now: () => NOW };
  const table: Record<string, Command> = { deliveries: createDeliveriesCommand(deps), redeliver: createRedeliverCommand(deps) };
  const run = async (argv: string[], environment = env) => {
    const context = captureContext('/tmp', environment);
    return { code: await main(argv, context, table), context };
  };
  const posted = () =>
    github.requestsTo('POST', /^\/app\/hook\/deliveries\/\d+\/attempts$/).map((request) => Number(request.path.split('/')[4]));

  beforeEach(async () => {
    github = await startFakeGitHub();
    // GHE_HOST is how the CLI reaches the fake: the Enterprise path is the one under test.
    env = { APP_ID: '1', PRIVATE_KEY: testPrivateKey(), GHE_HOST: github.host, GHE_PROTOCOL: 'http', LOG_LEVEL: 'silent' };
  });
  afterEach(() => github.close());

  it('lists deliveries newest first, reading every page (per_page=100, the Link cursor), as the App (a JWT)', async () => {
    for (let i = 0; i < 230; i++)
      github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 200, deliveredAt: minutesAgo(240 - i) });
    const { code, context } = await run(['deliveries', '--limit', '1000', '--json']);
    expect(code).toBe(EXIT.ok);
    const listed = JSON.parse(context.stdout()) as HookDelivery[];
    expect(listed).toHaveLength(230);
    expect(listed.map((delivery) => delivery.id)).toEqual(
      github
        .hookDeliveries()
        .map((delivery) => delivery.id)
        .reverse(),
    );
    const pages = github.requestsTo('GET', /^\/app\/hook\/deliveries$/);
    expect(pages.map((request) => request.query.get('per_page'))).toEqual(['100', '100', '100']);
    expect(pages[1].query.get('cursor')).toMatch(/^v1_\d+$/);
    expect(pages.every((request) => /^bearer /i.test(String(request.headers.authorization)))).toBe(true);
    expect(context.stderr()).toContain('read 230 deliveries…');
  });

  it('--since stops reading at the window; --limit caps what is shown; the table names event, status and GUID', async () => {
    github.recordDelivery('issues', { action: 'opened' }, { statusCode: 200, deliveredAt: minutesAgo(180) });
    const recent = github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 502, deliveredAt: minutesAgo(30) });
    github.recordDelivery('workflow_job', { action: 'completed' }, { statusCode: 0, deliveredAt: minutesAgo(10) });
    const { code, context } = await run(['deliveries', '--since', '1h', '--limit', '2']);
    expect(code).toBe(EXIT.ok);
    const lines = context.stdout().split('\n');
    expect(lines[0]).toMatch(/^ +ID +DELIVERED +EVENT +STATUS +REDELIVERY +GUID$/);
    expect(lines[1]).toMatch(/workflow_job\.completed +no answer +no /);
    expect(lines[2]).toMatch(new RegExp(`^ *${recent.id} +\\S+ +workflow_job\\.queued +502 +no +${recent.guid}$`));
    expect(lines).toHaveLength(3);
  });

  it('--failed shows what the recovery would redeliver: the latest attempt of a GUID failed (0 or >= 400)', async () => {
    const fixed = github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 0, deliveredAt: minutesAgo(50) });
    github.recordDelivery(
      'workflow_job',
      { action: 'queued' },
      { statusCode: 200, guid: fixed.guid, redelivery: true, deliveredAt: minutesAgo(40) },
    );
    const refused = github.recordDelivery('issues', { action: 'opened' }, { statusCode: 500, deliveredAt: minutesAgo(30) });
    github.recordDelivery('issue_comment', { action: 'created' }, { statusCode: 200, deliveredAt: minutesAgo(20) });
    const lost = github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 0, deliveredAt: minutesAgo(10) });
    const { context } = await run(['deliveries', '--failed', '--json']);
    expect((JSON.parse(context.stdout()) as HookDelivery[]).map((delivery) => delivery.id)).toEqual([lost.id, refused.id]);
    const none = await run(['deliveries', '--failed', '--since', '5m']);
    expect(none.context.stdout()).toMatch(/^No failed deliveries since /);
  });

  it('a 5xx while listing is a failure (exit 1) that says where', async () => {
    github.recordDelivery('workflow_job', { action: 'queued' });
    github.failNext('GET', /^\/app\/hook\/deliveries$/, 502);
    const { code, context } = await run(['deliveries']);
    expect(code).toBe(EXIT.failed);
    expect(context.stderr()).toContain('GitHub answered 502 listing the deliveries');
  });

  it('redeliver <id> asks for one attempt', async () => {
    const delivery = github.recordDelivery('workflow_job', { action: 'queued' });
    const { code, context } = await run(['redeliver', String(delivery.id)]);
    expect(code).toBe(EXIT.ok);
    expect(context.stdout()).toBe(`redelivery of ${delivery.id} requested`);
    expect(posted()).toEqual([delivery.id]);
  });

  it('redeliver of an id GitHub does not know is refused (exit 1)', async () => {
    const { code, context } = await run(['redeliver', '999999', '--json']);
    expect(code).toBe(EXIT.failed);
    expect(JSON.parse(context.stdout())).toEqual({
      redelivered: [],
      refused: [{ id: 999999, error: expect.stringContaining('GitHub answered 404') }],
    });
  });

  it('redeliver --failed asks for each failed one, retrying a 5xx; one GitHub keeps refusing makes it exit 1', async () => {
    const first = github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 0, deliveredAt: minutesAgo(30) });
    github.recordDelivery('workflow_job', { action: 'queued' }, { statusCode: 200, deliveredAt: minutesAgo(20) });
    const second = github.recordDelivery('issues', { action: 'opened' }, { statusCode: 503, deliveredAt: minutesAgo(10) });
    github.failNext('POST', new RegExp(`^/app/hook/deliveries/${second.id}/attempts$`), 502);
    const retried = await run(['redeliver', '--failed']);
    expect(retried.code).toBe(EXIT.ok);
    expect(retried.context.stdout().split('\n')).toEqual([`redelivery of ${second.id} requested`, `redelivery of ${first.id} requested`]);
    expect(posted()).toEqual([second.id, second.id, first.id]);

    github.failNext('POST', new RegExp(`^/app/hook/deliveries/${first.id}/attempts$`), 500, 3);
    const refused = await run(['redeliver', '--failed', '--since', '1h']);
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.context.stdout()).toContain(`redelivery of ${first.id} refused: GitHub answered 500 redelivering ${first.id}`);
    expect(refused.context.stderr()).toContain('redelivered 2/2…');
  });

  it.each([
    [['redeliver'], 'give one delivery id, or --failed'],
    [['redeliver', '12', '--failed'], 'give one delivery id, or --failed'],
    [['redeliver', '12', '13'], 'one delivery id at a time'],
    [['redeliver', 'abc'], '"abc" is not a delivery id'],
    [['redeliver', '12', '--since', '1h'], '--since goes with --failed'],
    [['deliveries', '--since', 'yesterday'], '--since "yesterday" is neither'],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const { code, context } = await run(argv);
    expect(code).toBe(EXIT.usage);
    expect(context.stderr()).toContain(message);
    expect(github.requests).toEqual([]);
  });

  it('without App credentials it says which to set (exit 2) and asks GitHub nothing', async () => {
    const { code, context } = await run(['deliveries'], { GHE_HOST: github.host });
    expect(code).toBe(EXIT.usage);
    expect(context.stderr()).toContain('APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) are not set');
    expect(github.requests).toEqual([]);
  });
});
