import { readFileSync } from 'node:fs';
import { environmentSchema } from '../../src/config.js';

/** `.env.example` is where a new user looks first: it must name every variable the app reads, and no stale ones. */
const example = readFileSync('.env.example', 'utf8');
const listed = [...example.matchAll(/^# ([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);

describe('.env.example', () => {
  it("lists every variable fleetbot's configuration reads", () => {
    expect(Object.keys(environmentSchema.shape).filter((name) => !listed.includes(name))).toEqual([]);
  });

  it('lists no fleetbot variable that the configuration does not read', () => {
    const known = Object.keys(environmentSchema.shape);
    expect(listed.filter((name) => name.startsWith('FLEETBOT_') && !known.includes(name))).toEqual([]);
  });

  it('lists GH_ORG, which registers the App under an organisation', () => {
    expect(listed).toContain('GH_ORG');
  });

  it('names only variables that the README documents', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(listed.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });

  it('sets nothing: a copied file changes no default until a line is uncommented', () => {
    expect(example.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))).toEqual([]);
  });
});
