import { createAwsClients } from '../../src/aws.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { errorFields } from '../../src/errors.js';
import { RunnerSecrets } from '../../src/secrets/ssm.js';
import { createRunnerInfra, registerTaskDefinitionWithoutContainerMemory } from '../helpers/aws-fixture.js';
import { failure } from '../helpers/failure.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';

describeWithMoto('AWS failures as log fields, against moto', () => {
  let moto: Moto;
  let aws: ReturnType<typeof createAwsClients>;

  beforeAll(async () => {
    moto = await startMoto();
    aws = createAwsClients({
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
  });
  afterAll(() => moto?.stop());

  it('names RunTask and status 500 when moto answers an HTML page (a task definition without container memory)', async () => {
    const infra = await createRunnerInfra(moto);
    await registerTaskDefinitionWithoutContainerMemory(moto);
    const fleet = ecsFleet({
      compute: {
        cluster: infra.cluster,
        taskDefinition: 'no-container-memory',
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const error = await failure(
      new EcsBackend(aws.ecs).launch(fleet, {
        runnerName: 'linux-small-1-abcdef',
        jobId: '1',
        credentialParameter: '/fleetbot/runners/linux-small/linux-small-1-abcdef',
      }),
    );
    const fields = errorFields(error);
    expect(fields).toMatchObject({ operation: 'ecs:RunTask', status: 500 });
    expect(fields.message).toMatch(/^the answer \(text\/html\) is not one the SDK can read: Unexpected token '<'/);
  });

  it("names PutParameter, the status and moto's request id when SSM refuses a credential", async () => {
    // An empty credential: SSM takes values of at least one character.
    const error = await failure(new RunnerSecrets(aws.ssm).put({ fleet: 'linux-small', name: 'linux-small-2-abcdef' }, ''));
    expect(errorFields(error)).toMatchObject({
      name: 'ValidationException',
      operation: 'ssm:PutParameter',
      status: 400,
      requestId: expect.stringMatching(/^\w{20,}$/),
    });
  });
});
