import { FleetRegistry } from '../../../src/fleets/registry.js';
import { ecsFleet } from '../../helpers/fleets.js';

describe('matching jobs to fleets', () => {
  const registry = new FleetRegistry([
    ecsFleet({ name: 'gpu', labels: ['self-hosted', 'linux', 'gpu'] }),
    ecsFleet({ name: 'linux', labels: ['self-hosted', 'linux', 'x64'] }),
  ]);

  it('gives the job to the first fleet that has every label the job asks for', () => {
    expect(registry.match(['self-hosted', 'linux'])?.name).toBe('gpu');
    expect(registry.match(['self-hosted', 'x64'])?.name).toBe('linux');
  });

  it('compares labels case-insensitively, as GitHub does', () => {
    expect(registry.match(['Self-Hosted', 'GPU'])?.name).toBe('gpu');
  });

  it('matches nothing when a label is not offered, or when the job has no labels', () => {
    expect(registry.match(['self-hosted', 'windows'])).toBeUndefined();
    expect(registry.match(['ubuntu-latest'])).toBeUndefined();
    expect(registry.match([])).toBeUndefined();
  });

  it('finds fleets by name', () => {
    expect(registry.get('linux')?.labels).toEqual(['self-hosted', 'linux', 'x64']);
    expect(registry.get('nope')).toBeUndefined();
  });
});

describe('fleets applied while the app runs', () => {
  it('serves a fleet from the moment it is applied, after the fleets file\'s', () => {
    const registry = new FleetRegistry([ecsFleet({ name: 'general', labels: ['self-hosted', 'linux'] })]);
    expect(registry.match(['self-hosted', 'gpu'])).toBeUndefined();
    registry.putProvisioned(ecsFleet({ name: 'gpu', labels: ['self-hosted', 'linux', 'gpu'] }));
    expect(registry.match(['self-hosted', 'gpu'])?.name).toBe('gpu');
    expect(registry.match(['self-hosted', 'linux'])?.name).toBe('general');
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
    expect(registry.match(['gpu'])).toBeUndefined();
    expect(registry.get('gpu')?.name).toBe('gpu');
    expect(registry.isDraining('gpu')).toBe(true);
    registry.removeProvisioned('gpu');
    expect(registry.get('gpu')).toBeUndefined();
    expect(registry.isDraining('gpu')).toBe(false);
  });
});
