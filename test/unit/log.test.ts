import { Writable } from 'node:stream';
import { createAppLog, omitFromAccessLog } from '../../src/log.js';
import { duplicateKeys } from '../helpers/duplicate-keys.js';

/** Everything the logger writes, as text. */
function capture(): { text: () => string; stream: Writable } {
  let written = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written += String(chunk);
      done();
    },
  });
  return { text: () => written, stream };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the app log', () => {
  it("writes JSON with no key twice, a child's name replacing its parent's", async () => {
    const out = capture();
    const log = await createAppLog({ LOG_FORMAT: 'json', LOG_LEVEL: 'info' }, out.stream);
    // As Probot builds its loggers, and fleetbot its own on top.
    const fleetbot = log.child({ name: 'probot' }).child({ name: 'fleetbot' });
    fleetbot.child({ fleet: 'linux' }).child({ fleet: 'gpu', jobId: '7' }).info({ runnerName: 'gpu-7-abc' }, 'runner launched');
    await settle();
    const line = JSON.parse(out.text().trim());
    expect(duplicateKeys(out.text().trim())).toEqual([]);
    expect(line).toMatchObject({ level: 30, name: 'fleetbot', fleet: 'gpu', jobId: '7', runnerName: 'gpu-7-abc', msg: 'runner launched' });
    expect(typeof line.time).toBe('number');
  });

  it("writes a call's fields that would repeat a binding under `fields`", async () => {
    const out = capture();
    const log = await createAppLog({ LOG_FORMAT: 'json' }, out.stream);
    // Probot logs each GitHub request's body at debug, and generate-jitconfig's has a `name`.
    log
      .child({ name: 'github' })
      .warn({ name: 'linux-7-abc', labels: ['linux'] }, 'GitHub request: POST /orgs/acme/actions/runners/generate-jitconfig - 201');
    await settle();
    expect(duplicateKeys(out.text().trim())).toEqual([]);
    expect(JSON.parse(out.text())).toMatchObject({ name: 'github', fields: { name: 'linux-7-abc', labels: ['linux'] } });
  });

  it('writes the pretty format with the date and time of each line', async () => {
    const out = capture();
    const log = await createAppLog({ LOG_LEVEL: 'info' }, out.stream);
    log.child({ name: 'fleetbot' }).warn('a line');
    log.child({ name: 'fleetbot' }).error({ fleet: 'linux', err: new Error('boom') }, 'launch failed');
    await settle();
    const [first, second, ...rest] = out.text().split('\n');
    expect(first).toMatch(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{4}\] WARN \(fleetbot\): a line$/);
    // Fields stay on the line, the error's too.
    expect(second).toMatch(/\] ERROR \(fleetbot\): launch failed \{"fleet":"linux","err":\{"name":"Error","message":"boom"\}\}$/);
    expect(rest).toEqual(['']);
  });

  it('logs an error Probot hands it as its fields: never the webhook payload it carries', async () => {
    const out = capture();
    const log = await createAppLog({ LOG_FORMAT: 'json' }, out.stream);
    const payload = JSON.stringify({ action: 'queued', padding: 'p'.repeat(20_000) });
    const error = Object.assign(new Error('[@octokit/webhooks] signature does not match event payload and secret'), {
      status: 400,
      event: { id: 'delivery-1', name: 'workflow_job', payload, signature: 'sha256=abc' },
    });
    log.error(error);
    log.error(Object.assign(new AggregateError([error], error.message), { event: error.event }));
    await settle();
    expect(out.text()).not.toContain('pppp');
    expect(out.text()).not.toContain('sha256=abc');
    expect(out.text().length).toBeLessThan(1_000);
    expect(JSON.parse(out.text().split('\n')[0]).err).toEqual({ name: 'Error', message: error.message, status: 400 });
  });

  it('leaves out the access log line of a response whose outcome was logged on its own', async () => {
    const out = capture();
    const access = (await createAppLog({ LOG_FORMAT: 'json' }, out.stream)).child({ name: 'http' });
    const refused = { statusCode: 400 };
    const served = { statusCode: 200 };
    omitFromAccessLog(refused);
    access.info({ res: refused, responseTime: 1 }, 'POST /api/github/webhooks 400 - 1ms');
    access.info({ res: served, responseTime: 1 }, 'POST /api/github/webhooks 200 - 1ms');
    await settle();
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).msg);
    expect(lines).toEqual(['POST /api/github/webhooks 200 - 1ms']);
  });

  it("censors GitLab's webhook secret header in the access log", async () => {
    const out = capture();
    const log = await createAppLog({ LOG_FORMAT: 'json' }, out.stream);
    log
      .child({ req: { headers: { 'x-gitlab-token': 'glsecret', 'x-gitlab-event': 'Job Hook' } } })
      .info('POST /api/gitlab/webhooks 200 - 2ms');
    await settle();
    expect(out.text()).not.toContain('glsecret');
    expect(out.text()).toContain('[redacted]');
  });

  it('censors the Authorization header (a /metrics bearer token) in the access log', async () => {
    const out = capture();
    const log = await createAppLog({ LOG_FORMAT: 'json' }, out.stream);
    log.child({ req: { headers: { authorization: 'Bearer metrics-secret', accept: '*/*' } } }).info('GET /metrics 200 - 3ms');
    await settle();
    expect(out.text()).not.toContain('metrics-secret');
    expect(JSON.parse(out.text().trim()).req.headers).toEqual({ authorization: '[redacted]', accept: '*/*' });
  });

  it('honours LOG_LEVEL, LOG_LEVEL_IN_STRING and LOG_MESSAGE_KEY as Probot does', async () => {
    const out = capture();
    const log = await createAppLog(
      { LOG_FORMAT: 'json', LOG_LEVEL: 'warn', LOG_LEVEL_IN_STRING: 'true', LOG_MESSAGE_KEY: 'message' },
      out.stream,
    );
    log.info('not shown');
    log.warn('shown');
    await settle();
    expect(JSON.parse(out.text().trim())).toMatchObject({ level: 'warn', message: 'shown' });
  });
});
