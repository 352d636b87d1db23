import { COMMENT_LIMIT, escapeMarkdown, invalidRequestComment, MARKERS, planComment } from '../../../src/issueops/messages.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

describe('the plan comment', () => {
  it('carries the marker, terraform\'s summary line, the planned head and the plan folded away', () => {
    const body = planComment({ sha, summary: 'Plan: 9 to add, 0 to change, 0 to destroy.', text: '  # aws_ecs_cluster.cluster will be created', kind: 'create', fleet: 'x' });
    expect(body.startsWith(MARKERS.plan)).toBe(true);
    expect(body).toContain('**Plan: 9 to add, 0 to change, 0 to destroy.**');
    expect(body).toContain(`Planned head: \`${sha}\``);
    expect(body).toMatch(/<details><summary>Full plan<\/summary>\n\n```\n {2}# aws_ecs_cluster\.cluster will be created\n```/);
  });

  it('tells a deletion\'s approver the destroy command', () => {
    expect(planComment({ sha, summary: 's', text: 't', kind: 'delete', fleet: 'gpu' })).toContain('`/approve destroy gpu`');
  });

  it('cuts a huge plan at a line boundary to fit GitHub\'s comment limit, and says so', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `  + resource line ${i}`).join('\n');
    const body = planComment({ sha, summary: 's', text, kind: 'create', fleet: 'x' });
    expect(body.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(body).toMatch(/\n {2}\+ resource line \d+\n… cut here: \d+ of \d+ characters shown/);
    expect(body.endsWith('```\n\n</details>')).toBe(true);
  });

  it('keeps a plan that fits whole, right up to the limit', () => {
    const small = planComment({ sha, summary: 's', text: '', kind: 'create', fleet: 'x' });
    const text = 'x'.repeat(COMMENT_LIMIT - small.length);
    const body = planComment({ sha, summary: 's', text, kind: 'create', fleet: 'x' });
    expect(body.length).toBe(COMMENT_LIMIT);
    expect(body).not.toContain('cut here');
  });

  it('cannot be closed early by a code fence inside the plan', () => {
    const body = planComment({ sha, summary: 's', text: 'before\n```\n## injected', kind: 'create', fleet: 'x' });
    expect(body.match(/^```$/gm)).toHaveLength(2);
  });
});

describe('the invalid request comment', () => {
  it('lists each field with what was expected, with issue text unable to mention or link', () => {
    const body = invalidRequestComment([
      { field: 'vCPU', message: 'expected one of 0.25, 0.5, 1, 2, 4, 8, 16; got "3"' },
      { field: 'Fleet name', message: 'got "@org/team [x](http://evil)"' },
    ]);
    expect(body.startsWith(MARKERS.request)).toBe(true);
    expect(body).toContain('- **vCPU**: expected one of 0.25, 0.5, 1, 2, 4, 8, 16; got "3"');
    expect(body).toContain('got "\\@org/team \\[x\\]\\(http://evil\\)"');
  });

  it('escapes every Markdown control character', () => {
    expect(escapeMarkdown('*_`<b>#|~')).toBe('\\*\\_\\`\\<b\\>\\#\\|\\~');
  });
});
