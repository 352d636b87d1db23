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
