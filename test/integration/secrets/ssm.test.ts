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

  /** A parameter as a release before per-fleet paths wrote it, or anyone else. */
  const putRaw = (name: string) => clientsFor(moto).ssm.send(new PutParameterCommand({ Name: name, Type: 'SecureString', Value: 'jit' }));

  it('stores the credential as a SecureString under /fleetbot/runners/<fleet>/<runner>', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    await secrets.put({ fleet: 'linux', name: 'linux-1-aaaaaa' }, 'encoded-jit-config');
    expect(runnerParameterName('linux', 'linux-1-aaaaaa')).toBe('/fleetbot/runners/linux/linux-1-aaaaaa');
    expect(await readParameter(moto, '/fleetbot/runners/linux/linux-1-aaaaaa')).toMatchObject({
      Type: 'SecureString',
      Value: 'encoded-jit-config',
    });
    expect(await readParameter(moto, '/fleetbot/runners/linux-1-aaaaaa')).toBeUndefined();
    // Read without decryption, the value is not the plaintext.
    const raw = await clientsFor(moto).ssm.send(new GetParameterCommand({ Name: '/fleetbot/runners/linux/linux-1-aaaaaa' }));
    expect(raw.Parameter?.Value).not.toBe('encoded-jit-config');
  });

  it("keeps fleets whose names extend each other apart: foo's runner path is no prefix of foo-bar's", async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    await secrets.put({ fleet: 'foo', name: 'foo-1-aaaaaa' }, 'foo-credential');
    await secrets.put({ fleet: 'foo-bar', name: 'foo-bar-1-bbbbbb' }, 'foo-bar-credential');
    const fooPath = runnerParameterName('foo', '');
    expect(runnerParameterName('foo-bar', 'foo-bar-1-bbbbbb').startsWith(fooPath)).toBe(false);
    expect((await readParameter(moto, '/fleetbot/runners/foo-bar/foo-bar-1-bbbbbb'))?.Value).toBe('foo-bar-credential');
  });

  it('replaces a credential issued again, and deletes idempotently', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const runner = { fleet: 'linux', name: 'linux-2-bbbbbb' };
    await secrets.put(runner, 'first');
    await secrets.put(runner, 'second');
    expect((await readParameter(moto, '/fleetbot/runners/linux/linux-2-bbbbbb'))?.Value).toBe('second');
    await secrets.delete(runner);
    await secrets.delete(runner);
    expect(await readParameter(moto, '/fleetbot/runners/linux/linux-2-bbbbbb')).toBeUndefined();
  });

  it('lists the parameters of both layouts, page after page, with when they were written, and nothing else', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const before = Date.now();
    const runners = Array.from({ length: 23 }, (_, index) => ({ fleet: `list${index % 3}`, name: `list${index % 3}-${index}-cccccc` }));
    for (const runner of runners) await secrets.put(runner, 'jit');
    // Written before the upgrade, directly under the path.
    await putRaw('/fleetbot/runners/list0-99-oldold');
    // Neighbours that are not runner credentials: another path, a name that only starts like it, a deeper level.
    for (const name of ['/fleetbot/other/list-x', '/fleetbot/runners-list-y', '/fleetbot/runners/list0/deeper/list-z']) await putRaw(name);

    const listed = await secrets.listRunnerParameters();
    const ours = listed.filter((parameter) => parameter.runnerName.startsWith('list'));
    expect(ours.map(({ name, runnerName }) => ({ name, runnerName })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      [
        ...runners.map((runner) => ({ name: runnerParameterName(runner.fleet, runner.name), runnerName: runner.name })),
        { name: '/fleetbot/runners/list0-99-oldold', runnerName: 'list0-99-oldold' },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(listed.map((parameter) => parameter.name)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/list-x|runners-list-y|deeper/)]),
    );
    for (const parameter of ours) {
      // SSM keeps whole seconds.
      expect(parameter.lastModifiedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(parameter.lastModifiedAt).toBeLessThanOrEqual(Date.now() + 1000);
    }
  });

  it('deletes parameters of both layouts by name in batches and counts only those that existed', async () => {
    const secrets = new RunnerSecrets(clientsFor(moto).ssm);
    const runners = Array.from({ length: 11 }, (_, index) => ({ fleet: 'batch', name: `batch-${index}-dddddd` }));
    for (const runner of runners) await secrets.put(runner, 'jit');
    await secrets.delete(runners[3]);
    await putRaw('/fleetbot/runners/batch-old-dddddd');
    const names = [...runners.map((runner) => runnerParameterName(runner.fleet, runner.name)), '/fleetbot/runners/batch-old-dddddd'];

    expect(await secrets.deleteRunnerParameters([...names, '/fleetbot/runners/batch/batch-never-eeeeee'])).toBe(11);
    for (const name of names) expect(await readParameter(moto, name)).toBeUndefined();
    expect(await secrets.deleteRunnerParameters(names)).toBe(0);
    expect(await secrets.deleteRunnerParameters([])).toBe(0);
  });
});
