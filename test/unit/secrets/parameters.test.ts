import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { CachedSecretParameters } from '../../../src/secrets/parameters.js';

describe('secret parameters', () => {
  const ssm = mockClient(SSMClient);
  let now = 0;
  const secrets = () => new CachedSecretParameters(new SSMClient({ region: 'us-east-1' }), 60_000, () => now);

  beforeEach(() => {
    ssm.reset();
    now = 0;
  });

  it('reads a SecureString decrypted and caches it until the TTL runs out', async () => {
    ssm.on(GetParameterCommand).resolvesOnce({ Parameter: { Value: 'first' } }).resolves({ Parameter: { Value: 'rotated' } });
    const reader = secrets();
    await expect(reader.read('/ci/token')).resolves.toBe('first');
    now = 59_999;
    await expect(reader.read('/ci/token')).resolves.toBe('first');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetParameterCommand)[0].args[0].input).toEqual({ Name: '/ci/token', WithDecryption: true });
    now = 60_000;
    await expect(reader.read('/ci/token')).resolves.toBe('rotated');
  });

  it('reads again after forget, and does not cache a failure', async () => {
    ssm.on(GetParameterCommand).rejectsOnce(new Error('ThrottlingException')).resolves({ Parameter: { Value: 'value' } });
    const reader = secrets();
    await expect(reader.read('/ci/token')).rejects.toThrow('ThrottlingException');
    await expect(reader.read('/ci/token')).resolves.toBe('value');
    reader.forget('/ci/token');
    await reader.read('/ci/token');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(3);
  });
});
