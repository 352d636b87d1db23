import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
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
    expect(await readParameter(moto, '/fleetbot/runners/linux-1-aaaaaa')).toMatchObject({
      Type: 'SecureString',
      Value: 'encoded-jit-config',
    });
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

  it('lists every parameter under the runner path, page after page, with when it was written', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const before = Date.now();
    const names = Array.from({ length: 23 }, (_, index) => `list-${index}-cccccc`);
    for (const name of names) await secrets.put(name, 'jit');
    // Neighbours that are not runner credentials.
    for (const name of ['/fleetbot/other/list-x', '/fleetbot/runners-list-y']) {
      await clientsFor(moto).ssm.send(new PutParameterCommand({ Name: name, Type: 'String', Value: 'x' }));
    }

    const listed = await secrets.listRunnerParameters();
    const ours = listed.filter((parameter) => parameter.runnerName.startsWith('list-'));
    expect(ours.map((parameter) => parameter.runnerName).sort()).toEqual([...names].sort());
    expect(listed.map((parameter) => parameter.runnerName)).not.toContain('list-x');
    expect(listed.some((parameter) => parameter.runnerName.includes('runners-list-y'))).toBe(false);
    for (const parameter of ours) {
      // SSM keeps whole seconds.
      expect(parameter.lastModifiedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(parameter.lastModifiedAt).toBeLessThanOrEqual(Date.now() + 1000);
    }
  });

  it('deletes parameters in batches and counts only those that existed', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const names = Array.from({ length: 12 }, (_, index) => `batch-${index}-dddddd`);
    for (const name of names) await secrets.put(name, 'jit');
    await secrets.delete(names[3]);

    expect(await secrets.deleteRunnerParameters([...names, 'batch-never-eeeeee'])).toBe(11);
    for (const name of names) expect(await readParameter(moto, runnerParameterName(name))).toBeUndefined();
    expect(await secrets.deleteRunnerParameters(names)).toBe(0);
    expect(await secrets.deleteRunnerParameters([])).toBe(0);
  });
});
