import { FleetRegistry } from '../../../src/fleets/registry.js';
import { circleciFleet, ecsFleet } from '../../helpers/fleets.js';

describe('matching jobs to fleets', () => {
  const registry = new FleetRegistry([
    ecsFleet({ name: 'gpu', labels: ['self-hosted', 'linux', 'gpu'] }),
    ecsFleet({ name: 'linux', labels: ['self-hosted', 'linux', 'x64'] }),
  ]);

  it('gives the job to the first fleet that has every label the job asks for', () => {
    expect(registry.match('github', ['self-hosted', 'linux'])?.name).toBe('gpu');
    expect(registry.match('github', ['self-hosted', 'x64'])?.name).toBe('linux');
  });

  it('compares labels case-insensitively, as GitHub does', () => {
    expect(registry.match('github', ['Self-Hosted', 'GPU'])?.name).toBe('gpu');
  });

  it('matches nothing when a label is not offered, or when the job has no labels', () => {
    expect(registry.match('github', ['self-hosted', 'windows'])).toBeUndefined();
    expect(registry.match('github', ['ubuntu-latest'])).toBeUndefined();
    expect(registry.match('github', [])).toBeUndefined();
  });

  it('finds fleets by name', () => {
    expect(registry.get('linux')?.labels).toEqual(['self-hosted', 'linux', 'x64']);
    expect(registry.get('nope')).toBeUndefined();
  });
});

describe('fleets applied while the app runs', () => {
  it("serves a fleet from the moment it is applied, after the fleets file's", () => {
    const registry = new FleetRegistry([ecsFleet({ name: 'general', labels: ['self-hosted', 'linux'] })]);
    expect(registry.match('github', ['self-hosted', 'gpu'])).toBeUndefined();
    registry.putProvisioned(ecsFleet({ name: 'gpu', labels: ['self-hosted', 'linux', 'gpu'] }));
    expect(registry.match('github', ['self-hosted', 'gpu'])?.name).toBe('gpu');
    expect(registry.match('github', ['self-hosted', 'linux'])?.name).toBe('general');
    expect(registry.all().map((fleet) => fleet.name)).toEqual(['general', 'gpu']);
  });

  it('refuses to shadow a fleet of the fleets file', () => {
    const registry = new FleetRegistry([ecsFleet({ name: 'general' })]);
    expect(() => registry.putProvisioned(ecsFleet({ name: 'general' }))).toThrow(/defined in the fleets file/);
  });

  it('stops matching a draining fleet but keeps it known until it is removed', () => {
    const registry = new FleetRegistry([]);
    registry.putProvisioned(ecsFleet({ name: 'gpu', labels: ['self-hosted', 'gpu'] }));
    registry.drain('gpu');
    expect(registry.match('github', ['gpu'])).toBeUndefined();
    expect(registry.get('gpu')?.name).toBe('gpu');
    expect(registry.isDraining('gpu')).toBe(true);
    registry.removeProvisioned('gpu');
    expect(registry.get('gpu')).toBeUndefined();
    expect(registry.isDraining('gpu')).toBe(false);
  });
});

describe('matching jobs of other CI systems', () => {
  it('gives a job only to fleets of its own CI system', () => {
    const tokens = { tokenParameter: '/t', apiTokenParameter: '/a', webhookSecretParameter: '/w' };
    const registry = new FleetRegistry([
      ecsFleet({ name: 'gh', labels: ['docker'] }),
      ecsFleet({ name: 'gl', labels: ['docker'], ci: 'gitlab', gitlab: tokens }),
    ]);
    expect(registry.match('github', ['docker'])?.name).toBe('gh');
    expect(registry.match('gitlab', ['docker'])?.name).toBe('gl');
    expect(registry.match('circleci', ['docker'])).toBeUndefined();
  });
});

describe('matching CircleCI demand', () => {
  it("chooses the fleet by resource class, whatever the fleets' labels", () => {
    const registry = new FleetRegistry([
      circleciFleet('cci-large', 'acme/linux-large', { labels: ['linux', 'large'] }),
      circleciFleet('cci-small', 'acme/linux-small', { labels: ['linux'] }),
    ]);
    expect(registry.match('circleci', ['acme/linux-small'])?.name).toBe('cci-small');
    expect(registry.match('circleci', ['acme/linux-large'])?.name).toBe('cci-large');
    expect(registry.match('circleci', ['linux'])).toBeUndefined();
  });
});

describe('listening for fleets added and removed', () => {
  it('calls listeners when a fleet is applied or removed, not when one is applied again, and not once they stop listening', () => {
    const registry = new FleetRegistry([ecsFleet({ name: 'general' })]);
    const calls: string[][] = [];
    const stop = registry.onChange(() => calls.push(registry.all().map((fleet) => fleet.name)));

    registry.putProvisioned(ecsFleet({ name: 'gpu' }));
    registry.putProvisioned(ecsFleet({ name: 'gpu', maxRunners: 3 }));
    registry.removeProvisioned('gpu');
    registry.removeProvisioned('gpu');
    stop();
    registry.putProvisioned(ecsFleet({ name: 'arm' }));

    expect(calls).toEqual([['general', 'gpu'], ['general']]);
  });
});
