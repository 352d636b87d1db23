import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { CachedParameters } from '../../../src/secrets/parameters.js';

describe('secrets read from SSM for the app itself', () => {
  const ssm = mockClient(SSMClient);
  let now = 0;
  const parameters = () => new CachedParameters(ssm as unknown as SSMClient, 60_000, () => now);

  beforeEach(() => {
    ssm.reset();
    now = 1_000_000;
  });

  it('reads with decryption once per minute, concurrent readers sharing one request', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'glrt-one' } });
    const cached = parameters();

    expect(await Promise.all([cached.read('/t'), cached.read('/t')])).toEqual(['glrt-one', 'glrt-one']);
    now += 59_000;
    expect(await cached.read('/t')).toBe('glrt-one');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetParameterCommand)[0].args[0].input).toEqual({ Name: '/t', WithDecryption: true });

    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'glrt-rotated' } });
    now += 1_000;
    expect(await cached.read('/t')).toBe('glrt-rotated');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('keeps no failure: the next read asks SSM again', async () => {
    ssm.on(GetParameterCommand).rejectsOnce(new ParameterNotFound({ message: 'not found', $metadata: {} })).resolves({ Parameter: { Value: 'v' } });
    const cached = parameters();

    await expect(cached.read('/t')).rejects.toThrow('not found');
    expect(await cached.read('/t')).toBe('v');
  });

  it('refuses a parameter without a value, naming it', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: {} });
    await expect(parameters().read('/fleetbot/gitlab/empty')).rejects.toThrow('SSM parameter /fleetbot/gitlab/empty has no value');
  });
});
