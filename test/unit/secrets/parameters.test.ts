import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { CachedSecretParameters } from '../../../src/secrets/parameters.js';

describe('secret parameters: the tokens fleetbot itself uses, read from SSM', () => {
  const ssm = mockClient(SSMClient);
  let now = 0;
  const secrets = () => new CachedSecretParameters(new SSMClient({ region: 'us-east-1' }), 60_000, () => now);

  beforeEach(() => {
    ssm.reset();
    now = 0;
  });

  it('reads a SecureString decrypted and caches it until the TTL runs out', async () => {
    ssm
      .on(GetParameterCommand)
      .resolvesOnce({ Parameter: { Value: 'first' } })
      .resolves({ Parameter: { Value: 'rotated' } });
    const reader = secrets();
    await expect(reader.read('/ci/token')).resolves.toBe('first');
    now = 59_999;
    await expect(reader.read('/ci/token')).resolves.toBe('first');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetParameterCommand)[0].args[0].input).toEqual({ Name: '/ci/token', WithDecryption: true });
    now = 60_000;
    await expect(reader.read('/ci/token')).resolves.toBe('rotated');
  });

  it('lets concurrent readers share one request', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'glrt-one' } });
    const reader = secrets();
    expect(await Promise.all([reader.read('/t'), reader.read('/t')])).toEqual(['glrt-one', 'glrt-one']);
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
  });

  it('reads again after forget, and does not cache a failure', async () => {
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(new ParameterNotFound({ message: 'not found', $metadata: {} }))
      .resolves({ Parameter: { Value: 'value' } });
    const reader = secrets();
    await expect(reader.read('/ci/token')).rejects.toThrow('not found');
    await expect(reader.read('/ci/token')).resolves.toBe('value');
    reader.forget('/ci/token');
    await reader.read('/ci/token');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(3);
  });

  it('refuses a parameter without a value, naming it', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: {} });
    await expect(secrets().read('/fleetbot/gitlab/empty')).rejects.toThrow('SSM parameter /fleetbot/gitlab/empty has no value');
  });
});
