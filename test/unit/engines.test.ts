import { readFileSync } from 'node:fs';
import semver from 'semver';

/**
 * The README promises Node 20.18 and CI runs Node 20: a dependency that asks for Node 22 makes `npm ci` warn
 * EBADENGINE and may use what Node 20 lacks. Pinning below such releases is done in package.json (overrides).
 */
interface LockFile {
  packages: Record<string, { engines?: { node?: string } | string[] }>;
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as LockFile;
const oldestNode = semver.minVersion(manifest.engines.node)!.version;

function nodeRange(entry: LockFile['packages'][string]): string | undefined {
  return Array.isArray(entry.engines) ? undefined : entry.engines?.node;
}

describe('Node versions', () => {
  it.each([oldestNode, process.version])('every installed package accepts Node %s', (version) => {
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && nodeRange(entry) && !semver.satisfies(version, nodeRange(entry)!))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')} wants node ${nodeRange(entry)}`);
    expect(refusing).toEqual([]);
  });

  it('tests on the Node line the README states', () => {
    expect(semver.satisfies(process.version, manifest.engines.node)).toBe(true);
  });
});
