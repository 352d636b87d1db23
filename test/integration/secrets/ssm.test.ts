import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { RunnerSecrets, runnerParameterName } from '../../../src/secrets/ssm.js';
import { clientsFor, readParameter } from '../../helpers/aws-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

describeWithMoto('runner credentials in SSM against moto', () => {
  let moto: Moto;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(() => moto?.stop());

  it('stores the credential as a SecureString under /fleetbot/runners/<runner>', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    await secrets.put('linux-1-aaaaaa', 'encoded-jit-config');
    expect(runnerParameterName('linux-1-aaaaaa')).toBe('/fleetbot/runners/linux-1-aaaaaa');
    expect(await readParameter(moto, '/fleetbot/runners/linux-1-aaaaaa')).toMatchObject({ Type: 'SecureString', Value: 'encoded-jit-config' });
    // Read without decryption, the value is not the plaintext.
    const raw = await clientsFor(moto).ssm.send(new GetParameterCommand({ Name: '/fleetbot/runners/linux-1-aaaaaa' }));
    expect(raw.Parameter?.Value).not.toBe('encoded-jit-config');
  });

  it('replaces a credential issued again, and deletes idempotently', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    await secrets.put('linux-2-bbbbbb', 'first');
    await secrets.put('linux-2-bbbbbb', 'second');
    expect((await readParameter(moto, '/fleetbot/runners/linux-2-bbbbbb'))?.Value).toBe('second');
    await secrets.delete('linux-2-bbbbbb');
    await secrets.delete('linux-2-bbbbbb');
    expect(await readParameter(moto, '/fleetbot/runners/linux-2-bbbbbb')).toBeUndefined();
  });
});
