import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { RunTaskCommand } from '@aws-sdk/client-ecs';
import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { Octokit } from '@octokit/core';
import nock from 'nock';
import { createAwsClients } from '../../src/aws.js';
import { classifyGitHubError } from '../../src/github-client.js';
import { errorFields, recordOperation } from '../../src/errors.js';
import { failure } from '../helpers/failure.js';
import { freePort } from '../helpers/moto.js';

const AWS = 'http://aws.test';
const clients = () =>
  createAwsClients({
    endpoint: AWS,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });

describe('errors as log fields', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());

  describe('AWS calls', () => {
    it('names RunTask and its status when the answer is an HTML page, not a bare SyntaxError', async () => {
      nock(AWS)
        .post('/')
        .reply(500, '<!doctype html><title>500 Internal Server Error</title>', { 'content-type': 'text/html; charset=utf-8' });
      const error = await failure(clients().ecs.send(new RunTaskCommand({ cluster: 'runners', taskDefinition: 'gh-runner' })));
      const fields = errorFields(error);
      expect(fields).toMatchObject({ name: 'SyntaxError', operation: 'ecs:RunTask', status: 500 });
      expect(fields.message).toContain('the answer (text/html) is not one the SDK can read');
      expect(fields.message).not.toContain('Deserialization error');
    });

    it('names PutParameter, the status and the request id of an AWS error answer', async () => {
      nock(AWS).post('/').reply(
        400,
        { __type: 'AccessDeniedException', message: 'not allowed to ssm:PutParameter' },
        {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': 'req-ssm-1',
        },
      );
      const error = await failure(
        clients().ssm.send(new PutParameterCommand({ Name: '/fleetbot/runners/f/x', Value: 'secret-value', Type: 'SecureString' })),
      );
      const fields = errorFields(error);
      expect(fields).toEqual({
        name: 'AccessDeniedException',
        message: 'not allowed to ssm:PutParameter',
        operation: 'ssm:PutParameter',
        status: 400,
        requestId: 'req-ssm-1',
      });
      expect(JSON.stringify(fields)).not.toContain('secret-value');
    });

    it('names RunInstances and SetDesiredCapacity, with the request id AWS sends in a header', async () => {
      nock(AWS)
        .post('/')
        .reply(
          503,
          '<Response><Errors><Error><Code>Unavailable</Code><Message>try later</Message></Error></Errors><RequestID>req-ec2-1</RequestID></Response>',
          { 'content-type': 'text/xml', 'x-amzn-requestid': 'req-ec2-1' },
        );
      const ec2 = errorFields(await failure(clients().ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1 }))));
      expect(ec2).toMatchObject({ name: 'Unavailable', operation: 'ec2:RunInstances', status: 503, requestId: 'req-ec2-1' });

      nock(AWS)
        .post('/')
        .reply(
          400,
          '<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>desired capacity above max</Message></Error><RequestId>req-asg-1</RequestId></ErrorResponse>',
          { 'content-type': 'text/xml', 'x-amzn-requestid': 'req-asg-1' },
        );
      const asg = errorFields(
        await failure(clients().autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'runners', DesiredCapacity: 3 }))),
      );
      expect(asg).toMatchObject({
        name: 'ValidationError',
        operation: 'autoscaling:SetDesiredCapacity',
        status: 400,
        requestId: 'req-asg-1',
      });
    });

    it('reports a DNS or connection failure as such, with the operation and no status', () => {
      // As the SDK throws it in the app. (Under jest the SDK wraps node's errors, which come from
      // another realm, and their code is lost; the e2e suite checks the real thing.)
      const error = Object.assign(new Error('getaddrinfo ENOTFOUND ecs.invalid'), {
        code: 'ENOTFOUND',
        $metadata: { attempts: 6, totalRetryDelay: 900 },
      });
      recordOperation(error, 'ecs:RunTask');
      expect(errorFields(error)).toEqual({
        name: 'Error',
        message: 'getaddrinfo ENOTFOUND ecs.invalid',
        operation: 'ecs:RunTask',
        code: 'ENOTFOUND',
      });
    });

    it("names the operation of any failure a client throws, the connection's included", async () => {
      nock.enableNetConnect('127.0.0.1');
      const port = await freePort();
      const dead = createAwsClients({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        maxAttempts: 1,
      });
      const fields = errorFields(await failure(dead.ecs.send(new RunTaskCommand({ cluster: 'runners', taskDefinition: 'gh-runner' }))));
      expect(fields).toMatchObject({ operation: 'ecs:RunTask', message: expect.stringContaining('ECONNREFUSED') });
      expect(fields.status).toBeUndefined();
      nock.disableNetConnect();
    });
  });

  describe('GitHub calls', () => {
    const GITHUB = 'http://github.test/api/v3';
    const octokit = () => new Octokit({ baseUrl: GITHUB, auth: 'ghs_installationtoken' });

    it("names the route, the status and GitHub's request id", async () => {
      nock('http://github.test')
        .post('/api/v3/orgs/acme/actions/runners/generate-jitconfig')
        .reply(503, { message: 'Service Unavailable' }, { 'x-github-request-id': 'C0DE:1234:5678' });
      const error = await failure(
        octokit().request('POST /orgs/{org}/actions/runners/generate-jitconfig', {
          org: 'acme',
          name: 'r',
          runner_group_id: 1,
          labels: ['x'],
        }),
      );
      const fields = errorFields(error);
      expect(fields).toMatchObject({
        name: 'HttpError',
        operation: 'POST /api/v3/orgs/acme/actions/runners/generate-jitconfig',
        status: 503,
        requestId: 'C0DE:1234:5678',
      });
      expect(JSON.stringify(fields)).not.toContain('ghs_installationtoken');
    });

    it('reports a refused connection as ECONNREFUSED, not as status 500, and it is still retried', async () => {
      nock.enableNetConnect('127.0.0.1');
      const port = await freePort();
      const error = await failure(
        new Octokit({ baseUrl: `http://127.0.0.1:${port}` }).request('POST /repos/{owner}/{repo}/actions/runners/registration-token', {
          owner: 'acme',
          repo: 'app',
        }),
      );
      expect((error as { status?: number }).status).toBe(500);
      expect(errorFields(error)).toEqual({
        name: 'HttpError',
        message: `connect ECONNREFUSED 127.0.0.1:${port}`,
        operation: 'POST /repos/acme/app/actions/runners/registration-token',
        code: 'ECONNREFUSED',
      });
      expect(classifyGitHubError(error)).toEqual({ retry: true, afterMs: undefined });
      nock.disableNetConnect();
    });

    it('reports a DNS failure as ENOTFOUND', async () => {
      nock('http://github.test')
        .get('/api/v3/app')
        .replyWithError(Object.assign(new Error('getaddrinfo ENOTFOUND github.test'), { code: 'ENOTFOUND' }));
      const error = await failure(octokit().request('GET /app'));
      const fields = errorFields(error);
      expect(fields).toMatchObject({ operation: 'GET /api/v3/app', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND github.test' });
      expect(fields.status).toBeUndefined();
      expect(classifyGitHubError(error).retry).toBe(true);
    });
  });

  describe('other errors', () => {
    it('keeps the name, message and status of an error, never its request or webhook event', () => {
      const error = Object.assign(new Error('Bad credentials'), {
        status: 401,
        request: { headers: { authorization: 'token ghs_secret' } },
        event: { id: 'd-1', name: 'workflow_job', payload: '{"big":"payload"}' },
      });
      expect(errorFields(error)).toEqual({ name: 'Error', message: 'Bad credentials', status: 401 });
    });

    it("lists an AggregateError's errors, each as fields", () => {
      const inner = Object.assign(new Error('signature does not match'), { status: 400, event: { payload: 'x'.repeat(10_000) } });
      const fields = errorFields(Object.assign(new AggregateError([inner], inner.message), { event: { payload: 'x'.repeat(10_000) } }));
      expect(fields).toEqual({
        name: 'AggregateError',
        message: 'signature does not match',
        errors: [{ name: 'Error', message: 'signature does not match', status: 400 }],
      });
    });

    it('gives a bug the place it was thrown, and a fetch failure its cause', () => {
      let bug: unknown;
      try {
        void (undefined as unknown as { x: number }).x;
      } catch (error) {
        bug = error;
      }
      expect(errorFields(bug).stack).toMatch(/^at .*errors\.test\.ts/);
      const fetchFailure = new TypeError('fetch failed', {
        cause: Object.assign(new Error('getaddrinfo ENOTFOUND gitlab.test'), { code: 'ENOTFOUND' }),
      });
      expect(errorFields(fetchFailure)).toEqual({ name: 'TypeError', message: 'getaddrinfo ENOTFOUND gitlab.test', code: 'ENOTFOUND' });
    });

    it('logs a thrown value that is not an error as text', () => {
      expect(errorFields('boom')).toEqual({ name: 'Error', message: 'boom' });
    });
  });
});
