import { parseJobQuery, parsePageQuery } from '../../../src/web/queries.js';

describe('job queries', () => {
  it('default to the last 200 and take each filter', () => {
    expect(parseJobQuery(new URLSearchParams(''))).toEqual({ ok: true, value: { limit: 200 } });
    expect(parseJobQuery(new URLSearchParams('fleet=linux&ci=gitlab&state=waiting&since=5&limit=1000'))).toEqual({
      ok: true,
      value: { fleet: 'linux', ci: 'gitlab', status: 'waiting', since: 5, limit: 1000 },
    });
  });

  it('treat an empty filter (the page form’s "all") as none', () => {
    expect(parsePageQuery(new URLSearchParams('fleet=&ci=&state='))).toEqual({ ok: true, value: { limit: 200 } });
  });

  it('refuse a limit above 1000, a negative or fractional since, and on the page since/limit', () => {
    expect(parseJobQuery(new URLSearchParams('limit=1001&since=-1'))).toEqual({
      ok: false,
      problems: ['since: "-1" is not a whole number from 0 to 9007199254740991', 'limit: "1001" is not a whole number from 1 to 1000'],
    });
    expect(parsePageQuery(new URLSearchParams('limit=5'))).toEqual({
      ok: false,
      problems: ['limit: unknown parameter (known: fleet, ci, state)'],
    });
  });
});
