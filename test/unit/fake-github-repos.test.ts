import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { issueCommentEvent, issuesEvent, pullRequestEvent } from '../helpers/webhook-events.js';

const REPO = 'acme/runner-fleets';
const owner = 'acme';
const repo = 'runner-fleets';

// No retries or throttling: a refused request must reach the test as GitHub answered it.
const TestOctokit = ProbotOctokit.defaults((options: any) => ({
  ...options,
  retry: { enabled: false },
  throttle: { ...options?.throttle, enabled: false },
}));
type Client = InstanceType<typeof TestOctokit>;

const privateKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

const log = pino({ level: 'silent' });

let github: FakeGitHub;
/** The App through an installation token the fake issued: it writes as fleetbot[bot]. */
let app: Client;
/** The App authenticated as itself (JWT), for GET /app. */
let appJwt: Client;
/** A person: the fake's default user, octocat. */
let person: Client;
let expectedUnhandled: string[];

beforeEach(async () => {
  github = await startFakeGitHub();
  github.createRepo(REPO, { files: { 'README.md': '# Runner fleets\n', 'fleets/small.yml': 'size: small\n' } });
  const probot = new Probot({ appId: 1, privateKey, baseUrl: github.apiUrl, Octokit: TestOctokit, log });
  app = (await probot.auth(1)) as Client;
  appJwt = (await probot.auth()) as Client;
  person = new TestOctokit({ auth: { token: 'ghp_person' }, baseUrl: github.apiUrl });
  expectedUnhandled = [];
});

afterEach(async () => {
  await github.close();
  // Every request fit GHES 3.19's description and found a route.
  expect(github.openApiViolations).toEqual([]);
  expect(github.unhandled).toEqual(expectedUnhandled);
});

type FileChanges = Record<string, string | null>;

/** As the app does it: one commit on a new branch through the git data API, without a clone. */
async function commitToNewBranch(branch: string, files: FileChanges): Promise<string> {
  const { data: main } = await app.rest.git.getRef({ owner, repo, ref: 'heads/main' });
  const { data: parent } = await app.rest.git.getCommit({ owner, repo, commit_sha: main.object.sha });
  const tree = Object.entries(files).map(([path, content]) =>
    content === null
      ? { path, mode: '100644' as const, type: 'blob' as const, sha: null }
      : { path, mode: '100644' as const, type: 'blob' as const, content },
  );
  const { data: newTree } = await app.rest.git.createTree({ owner, repo, base_tree: parent.tree.sha, tree });
  const message = `Change ${branch}`;
  const { data: commit } = await app.rest.git.createCommit({ owner, repo, message, tree: newTree.sha, parents: [parent.sha] });
  await app.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: commit.sha });
  return commit.sha;
}

async function openPull(branch: string, files: FileChanges): Promise<{ number: number; headSha: string }> {
  const headSha = await commitToNewBranch(branch, files);
  const { data } = await app.rest.pulls.create({
    owner,
    repo,
    head: `${owner}:${branch}`,
    base: 'main',
    title: `Fleet ${branch}`,
    body: 'Plan follows.',
  });
  return { number: data.number, headSha };
}

async function fileAt(ref: string, path: string): Promise<string> {
  const { data } = await app.rest.repos.getContent({ owner, repo, path, ref });
  if (Array.isArray(data) || data.type !== 'file') throw new Error(`${path} is not a file`);
  return Buffer.from(data.content, 'base64').toString('utf8');
}

describe('the fake GitHub: App and repositories', () => {
  it('describes the App to its JWT only', async () => {
    const { data } = await appJwt.rest.apps.getAuthenticated();

    expect(data).toMatchObject({ id: 1, slug: 'fleetbot', name: 'Fleetbot', owner: { login: 'acme' } });
    expect(github.app).toEqual({ id: 1, slug: 'fleetbot', owner: 'acme', botLogin: 'fleetbot[bot]' });
    await expect(person.request('GET /app')).rejects.toMatchObject({ status: 401 });
  });

  it('takes the App slug and the default user from its options', async () => {
    const other = await startFakeGitHub({ appSlug: 'fleetbot-staging', appId: 7, defaultUser: 'mona' });
    try {
      other.createRepo('acme/x');
      const number = other.createIssue('acme/x', { title: 't', body: 'b' });

      expect(other.app).toMatchObject({ id: 7, botLogin: 'fleetbot-staging[bot]' });
      expect(other.issue('acme/x', number).user).toMatchObject({ login: 'mona', type: 'User' });
      expect(other.user('fleetbot-staging[bot]')).toMatchObject({ type: 'Bot' });
    } finally {
      await other.close();
    }
  });

  it('serves a repository with its default branch and owner', async () => {
    const { data } = await app.rest.repos.get({ owner, repo });

    expect(data).toMatchObject({
      full_name: REPO,
      default_branch: 'main',
      private: true,
      owner: { login: 'acme', type: 'Organization' },
    });
  });

  it('leaves requests for a repository it does not have unhandled', async () => {
    await expect(app.rest.repos.get({ owner, repo: 'elsewhere' })).rejects.toMatchObject({ status: 404 });
    expectedUnhandled = ['GET /repos/acme/elsewhere'];
  });
});

describe('the fake GitHub: git data', () => {
  it('builds a commit from a blob, a tree and a commit, and serves its files at the new branch', async () => {
    const content = Buffer.from('size: large\n').toString('base64');
    const { data: blob } = await app.rest.git.createBlob({ owner, repo, content, encoding: 'base64' });
    const { data: main } = await app.rest.git.getRef({ owner, repo, ref: 'heads/main' });
    const { data: parent } = await app.rest.git.getCommit({ owner, repo, commit_sha: main.object.sha });
    const { data: tree } = await app.rest.git.createTree({
      owner,
      repo,
      base_tree: parent.tree.sha,
      tree: [
        { path: 'fleets/large.yml', mode: '100644', type: 'blob', sha: blob.sha },
        { path: 'fleets/gpu.yml', mode: '100644', type: 'blob', content: 'size: gpu\n' },
      ],
    });
    const { data: commit } = await app.rest.git.createCommit({
      owner,
      repo,
      message: 'Add fleets',
      tree: tree.sha,
      parents: [parent.sha],
    });
    const { data: ref } = await app.rest.git.createRef({ owner, repo, ref: 'refs/heads/fleet/large', sha: commit.sha });

    expect(commit).toMatchObject({ message: 'Add fleets', tree: { sha: tree.sha }, parents: [{ sha: parent.sha }] });
    expect(commit.author).toMatchObject({ name: 'fleetbot[bot]' });
    expect(ref).toMatchObject({ ref: 'refs/heads/fleet/large', object: { sha: commit.sha, type: 'commit' } });
    expect(await fileAt('fleet/large', 'fleets/large.yml')).toBe('size: large\n');
    expect(await fileAt(commit.sha, 'fleets/gpu.yml')).toBe('size: gpu\n');
    expect(await fileAt('fleet/large', 'fleets/small.yml')).toBe('size: small\n');
    expect(github.readFile(REPO, 'main', 'fleets/large.yml')).toBeUndefined();
    expect(github.readFile(REPO, 'fleet/large', 'fleets/gpu.yml')).toBe('size: gpu\n');
    expect(github.branchSha(REPO, 'fleet/large')).toBe(commit.sha);
  });

  it("gives blobs git's own ids", async () => {
    const { data } = await app.rest.git.createBlob({ owner, repo, content: 'hello\n' });

    // printf 'hello\n' | git hash-object --stdin
    expect(data.sha).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  });

  it('deletes a path from a tree given sha null', async () => {
    const sha = await commitToNewBranch('retire-small', { 'fleets/small.yml': null });

    expect(github.readFile(REPO, sha, 'fleets/small.yml')).toBeUndefined();
    expect(github.readFile(REPO, sha, 'README.md')).toBe('# Runner fleets\n');
    await expect(app.rest.repos.getContent({ owner, repo, path: 'fleets/small.yml', ref: 'retire-small' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('refuses a non-fast-forward update unless forced, and creating a ref that exists', async () => {
    const first = await commitToNewBranch('topic', { 'a.txt': 'a' });
    const sideways = github.pushCommit(REPO, 'other', { 'b.txt': 'b' });

    await expect(app.rest.git.updateRef({ owner, repo, ref: 'heads/topic', sha: sideways, force: false })).rejects.toMatchObject({
      status: 422,
      response: { data: { message: 'Update is not a fast forward' } },
    });
    expect(github.branchSha(REPO, 'topic')).toBe(first);
    await app.rest.git.updateRef({ owner, repo, ref: 'heads/topic', sha: sideways, force: true });
    expect(github.branchSha(REPO, 'topic')).toBe(sideways);
    await expect(app.rest.git.createRef({ owner, repo, ref: 'refs/heads/topic', sha: first })).rejects.toMatchObject({
      status: 422,
      response: { data: { message: 'Reference already exists' } },
    });
  });

  it('fast-forwards a branch, and deletes it', async () => {
    const base = await commitToNewBranch('topic', { 'a.txt': 'a' });
    const next = github.pushCommit(REPO, 'topic', { 'a.txt': 'a2' });
    // Back to base needs force; from base to its descendant is a fast-forward.
    await app.rest.git.updateRef({ owner, repo, ref: 'heads/topic', sha: base, force: true });
    await app.rest.git.updateRef({ owner, repo, ref: 'heads/topic', sha: next });

    expect(github.branchSha(REPO, 'topic')).toBe(next);
    await app.rest.git.deleteRef({ owner, repo, ref: 'heads/topic' });
    expect(github.branchSha(REPO, 'topic')).toBeUndefined();
    await expect(app.rest.git.getRef({ owner, repo, ref: 'heads/topic' })).rejects.toMatchObject({ status: 404 });
  });

  it('answers 404 for a file or a ref that does not exist', async () => {
    await expect(app.rest.repos.getContent({ owner, repo, path: 'fleets/none.yml' })).rejects.toMatchObject({
      status: 404,
    });
    await expect(app.rest.repos.getContent({ owner, repo, path: 'README.md', ref: 'no-such-branch' })).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('the fake GitHub: pull requests', () => {
  it('opens a pull request only from an existing branch, and once per branch', async () => {
    const { number, headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n' });

    expect(github.pull(REPO, number)).toMatchObject({
      state: 'open',
      merged: false,
      head: { ref: 'fleet/gpu', sha: headSha },
      base: { ref: 'main', sha: github.branchSha(REPO, 'main') },
      user: { login: 'fleetbot[bot]', type: 'Bot' },
      mergeable: true,
      commits: 1,
      changed_files: 1,
    });
    await expect(app.rest.pulls.create({ owner, repo, head: 'fleet/gpu', base: 'main', title: 'again' })).rejects.toMatchObject({
      status: 422,
    });
    await expect(app.rest.pulls.create({ owner, repo, head: 'no-such-branch', base: 'main', title: 'x' })).rejects.toMatchObject({
      status: 422,
    });
    const { data: found } = await app.rest.pulls.list({ owner, repo, head: `${owner}:fleet/gpu`, state: 'open' });
    expect(found.map((pull) => pull.number)).toEqual([number]);
    const { data: none } = await app.rest.pulls.list({ owner, repo, head: `${owner}:other`, state: 'all' });
    expect(none).toEqual([]);
  });

  it('shares one number sequence between issues and pull requests', async () => {
    const issue = github.createIssue(REPO, { title: 'New fleet: gpu', body: 'form' });
    const { number } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n' });
    const { data } = await app.rest.issues.get({ owner, repo, issue_number: number });

    expect([issue, number]).toEqual([1, 2]);
    expect(data.pull_request).toMatchObject({ url: expect.stringContaining('/pulls/2'), merged_at: null });
    expect(github.issue(REPO, issue).pull_request).toBeUndefined();
  });

  it('merges a pull request only at its current head, into the base branch', async () => {
    const files = { 'fleets/gpu.yml': 'size: gpu\n', 'fleets/small.yml': null };
    const { number, headSha } = await openPull('fleet/gpu', files);
    const notTheHead = github.branchSha(REPO, 'main') as string;

    await expect(app.rest.pulls.merge({ owner, repo, pull_number: number, sha: notTheHead })).rejects.toMatchObject({
      status: 409,
      response: { data: { message: 'Head branch was modified. Review and try the merge again.' } },
    });
    const { data } = await app.rest.pulls.merge({ owner, repo, pull_number: number, sha: headSha });

    expect(data).toEqual({ sha: expect.stringMatching(/^[0-9a-f]{40}$/), merged: true, message: 'Pull Request successfully merged' });
    expect(github.branchSha(REPO, 'main')).toBe(data.sha);
    expect(github.readFile(REPO, 'main', 'fleets/gpu.yml')).toBe('size: gpu\n');
    expect(github.readFile(REPO, 'main', 'fleets/small.yml')).toBeUndefined();
    expect(github.pull(REPO, number)).toMatchObject({
      state: 'closed',
      merged: true,
      merge_commit_sha: data.sha,
      merged_by: { login: 'fleetbot[bot]' },
    });
    expect(github.issue(REPO, number).pull_request.merged_at).toEqual(expect.any(String));
    expect(github.mergedPulls).toEqual([{ fullName: REPO, number, headSha, mergeCommitSha: data.sha }]);
    await expect(app.rest.pulls.merge({ owner, repo, pull_number: number, sha: headSha })).rejects.toMatchObject({
      status: 405,
    });
  });

  it('squashes into one commit on the base branch, titled as asked', async () => {
    const { number, headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n' });
    const before = github.branchSha(REPO, 'main');

    const { data } = await app.rest.pulls.merge({
      owner,
      repo,
      pull_number: number,
      sha: headSha,
      merge_method: 'squash',
      commit_title: 'Add fleet gpu (#2)',
    });
    const { data: commit } = await app.rest.git.getCommit({ owner, repo, commit_sha: data.sha });

    expect(commit).toMatchObject({ message: 'Add fleet gpu (#2)', parents: [{ sha: before }] });
    expect(github.readFile(REPO, 'main', 'fleets/gpu.yml')).toBe('size: gpu\n');
  });

  it('refuses to merge a closed pull request', async () => {
    const { number } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'x' });
    await app.rest.pulls.update({ owner, repo, pull_number: number, state: 'closed', title: 'Abandoned' });

    expect(github.pull(REPO, number)).toMatchObject({ state: 'closed', merged: false, title: 'Abandoned' });
    await expect(app.rest.pulls.merge({ owner, repo, pull_number: number })).rejects.toMatchObject({ status: 405 });
  });

  it('moves an open pull request to the new head when a person pushes to its branch', async () => {
    const { number, headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n' });
    const pushed = github.pushCommit(REPO, 'fleet/gpu', { 'fleets/gpu.yml': 'size: huge\n' }, { author: 'mallory' });

    expect(github.pull(REPO, number).head.sha).toBe(pushed);
    expect(github.previousHead(REPO, number)).toBe(headSha);
    await expect(app.rest.pulls.merge({ owner, repo, pull_number: number, sha: headSha })).rejects.toMatchObject({
      status: 409,
    });
  });

  it('compares a branch with its base since their merge base: the changed files and who wrote each commit', async () => {
    const { headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n', 'fleets/small.yml': null });
    const pushed = github.pushCommit(REPO, 'fleet/gpu', { 'scripts/x.sh': 'echo\n' }, { author: 'mallory' });
    github.pushCommit(REPO, 'main', { 'README.md': '# moved on\n' });

    const { data } = await app.rest.repos.compareCommitsWithBasehead({ owner, repo, basehead: 'main...fleet/gpu' });
    expect(data).toMatchObject({ status: 'diverged', ahead_by: 2, behind_by: 1, total_commits: 2 });
    expect(data.files?.map((file) => [file.filename, file.status])).toEqual([
      ['fleets/gpu.yml', 'added'],
      ['fleets/small.yml', 'removed'],
      ['scripts/x.sh', 'added'],
    ]);
    expect(data.commits.map((commit) => [commit.sha, commit.author?.login])).toEqual([
      [headSha, 'fleetbot[bot]'],
      [pushed, 'mallory'],
    ]);
  });

  it('closes an open pull request whose head branch is deleted', async () => {
    const { number } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'x' });

    await person.rest.git.deleteRef({ owner, repo, ref: 'heads/fleet/gpu' });

    expect(github.pull(REPO, number)).toMatchObject({ state: 'closed', merged: false });
  });

  it('merges file by file when the base branch moved meanwhile, and refuses a conflict', async () => {
    const clean = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'size: gpu\n' });
    const conflicting = await openPull('fleet/resize', { 'fleets/small.yml': 'size: medium\n' });
    github.pushCommit(REPO, 'main', { 'README.md': '# Fleets\n', 'fleets/small.yml': 'size: tiny\n' });

    expect(github.pull(REPO, conflicting.number)).toMatchObject({ mergeable: false, mergeable_state: 'dirty' });
    await expect(app.rest.pulls.merge({ owner, repo, pull_number: conflicting.number })).rejects.toMatchObject({
      status: 405,
    });
    await app.rest.pulls.merge({ owner, repo, pull_number: clean.number, sha: clean.headSha });
    expect(github.readFile(REPO, 'main', 'README.md')).toBe('# Fleets\n');
    expect(github.readFile(REPO, 'main', 'fleets/gpu.yml')).toBe('size: gpu\n');
  });
});

describe('the fake GitHub: issues, comments and labels', () => {
  it('pages comments, with a link to the next page', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form' });
    for (let i = 1; i <= 5; i++) github.createComment(REPO, number, `comment ${i}`, 'octocat');

    const response = await fetch(`${github.apiUrl}/repos/${REPO}/issues/${number}/comments?per_page=2&page=2`);
    const page = (await response.json()) as { body: string }[];
    const all = await app.paginate(app.rest.issues.listComments, { owner, repo, issue_number: number, per_page: 2 });

    expect(page.map((comment) => comment.body)).toEqual(['comment 3', 'comment 4']);
    expect(response.headers.get('link')).toContain(
      `<${github.apiUrl}/repos/${REPO}/issues/${number}/comments?per_page=2&page=3>; rel="next"`,
    );
    expect(all.map((comment) => comment.body)).toEqual(['comment 1', 'comment 2', 'comment 3', 'comment 4', 'comment 5']);
    expect(github.requestsTo('GET', /\/comments$/)).toHaveLength(4);
  });

  it('takes comment bodies of up to 65,536 characters, on create and edit', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form' });
    const longest = 'x'.repeat(65_536);
    const { data: comment } = await app.rest.issues.createComment({ owner, repo, issue_number: number, body: longest });

    await expect(app.rest.issues.createComment({ owner, repo, issue_number: number, body: `${longest}x` })).rejects.toMatchObject({
      status: 422,
      response: { data: { message: 'Validation Failed', errors: [expect.objectContaining({ field: 'body' })] } },
    });
    await expect(app.rest.issues.updateComment({ owner, repo, comment_id: comment.id, body: '€'.repeat(65_537) })).rejects.toMatchObject({
      status: 422,
    });
    expect(github.comments(REPO, number).map((c) => c.body.length)).toEqual([65_536]);
  });

  it('shows what the App writes as its bot user, and what people write as them', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form', user: 'alice' });
    const { data: fromApp } = await app.rest.issues.createComment({ owner, repo, issue_number: number, body: 'Planning…' });
    const { data: fromPerson } = await person.rest.issues.createComment({ owner, repo, issue_number: number, body: 'ok' });

    expect(fromApp.user).toMatchObject({ login: 'fleetbot[bot]', type: 'Bot', id: expect.any(Number) });
    expect(fromApp.performed_via_github_app).toMatchObject({ id: 1, slug: 'fleetbot' });
    expect(fromPerson.user).toMatchObject({ login: 'octocat', type: 'User' });
    expect(fromPerson.performed_via_github_app).toBeNull();
    expect(github.comments(REPO, number)).toEqual([
      { id: fromApp.id, author: 'fleetbot[bot]', body: 'Planning…', viaApp: true },
      { id: fromPerson.id, author: 'octocat', body: 'ok', viaApp: false },
    ]);
  });

  it('edits and deletes comments', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form' });
    const { data: plan } = await app.rest.issues.createComment({ owner, repo, issue_number: number, body: 'plan v1' });
    const { data: note } = await app.rest.issues.createComment({ owner, repo, issue_number: number, body: 'note' });

    await app.rest.issues.updateComment({ owner, repo, comment_id: plan.id, body: 'plan v2' });
    await app.rest.issues.deleteComment({ owner, repo, comment_id: note.id });

    expect(github.comments(REPO, number).map((c) => c.body)).toEqual(['plan v2']);
    await expect(app.rest.issues.deleteComment({ owner, repo, comment_id: note.id })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('adds and removes labels, 404 for a label the issue does not have', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form', labels: ['fleet-request'] });
    const labels = ['fleetbot: planning', 'fleet-request'];

    const { data: added } = await app.rest.issues.addLabels({ owner, repo, issue_number: number, labels });
    expect(added.map((label) => label.name)).toEqual(['fleet-request', 'fleetbot: planning']);
    await app.rest.issues.removeLabel({ owner, repo, issue_number: number, name: 'fleetbot: planning' });
    expect(github.labels(REPO, number)).toEqual(['fleet-request']);
    await expect(app.rest.issues.removeLabel({ owner, repo, issue_number: number, name: 'fleetbot: planning' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('edits, closes and reopens issues', async () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'form' });

    await app.rest.issues.update({ owner, repo, issue_number: number, labels: ['applied'], body: 'form, done' });
    await app.rest.issues.update({ owner, repo, issue_number: number, state: 'closed', state_reason: 'not_planned' });
    expect(github.issue(REPO, number)).toMatchObject({
      state: 'closed',
      state_reason: 'not_planned',
      body: 'form, done',
      closed_by: { login: 'fleetbot[bot]' },
      labels: [expect.objectContaining({ name: 'applied' })],
    });
    await person.rest.issues.update({ owner, repo, issue_number: number, state: 'open' });
    expect(github.issue(REPO, number)).toMatchObject({ state: 'open', state_reason: 'reopened', closed_at: null });
  });

  it('records what an edit changed', () => {
    const number = github.createIssue(REPO, { title: 'New fleet', body: 'size: small' });

    expect(github.editIssue(REPO, number, { body: 'size: large' })).toEqual({ body: { from: 'size: small' } });
    expect(github.lastIssueChanges(REPO, number)).toEqual({ body: { from: 'size: small' } });
    expect(github.issue(REPO, number).body).toBe('size: large');
  });
});

describe('the fake GitHub: people', () => {
  it('answers permissions from the roles set, read for anyone else', async () => {
    github.setRole(REPO, 'alice', 'maintain');
    github.setRole(REPO, 'bob', 'admin');
    const permission = async (username: string) => (await app.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username })).data;

    expect(await permission('alice')).toMatchObject({ permission: 'write', role_name: 'maintain', user: { login: 'alice' } });
    expect(await permission('bob')).toMatchObject({ permission: 'admin', role_name: 'admin' });
    expect(await permission('mallory')).toMatchObject({ permission: 'read', role_name: 'read' });
  });

  it('answers team membership, 404 for anyone not in the team', async () => {
    github.addTeamMember('acme', 'platform', 'alice');
    const membership = (username: string) => app.rest.teams.getMembershipForUserInOrg({ org: 'acme', team_slug: 'platform', username });

    expect((await membership('alice')).data).toMatchObject({
      state: 'active',
      role: 'member',
      url: expect.stringContaining('/memberships/alice'),
    });
    await expect(membership('mallory')).rejects.toMatchObject({ status: 404 });
  });

  it('gives users stable ids', () => {
    expect(github.user('alice').id).toBe(github.user('Alice').id);
    expect(github.user('alice').id).not.toBe(github.user('bob').id);
  });
});

describe('the fake GitHub: check runs', () => {
  it('keeps the latest check run per head SHA and name', async () => {
    const { number, headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'x' });
    const { data: run } = await app.rest.checks.create({
      owner,
      repo,
      name: 'fleetbot/plan',
      head_sha: headSha,
      status: 'in_progress',
    });
    await app.rest.checks.update({
      owner,
      repo,
      check_run_id: run.id,
      status: 'completed',
      conclusion: 'success',
      output: { title: 'Plan: 1 to add', summary: 'gpu fleet' },
    });
    await app.rest.checks.create({ owner, repo, name: 'fleetbot/apply', head_sha: headSha });

    expect(github.checkRuns(REPO, headSha)).toEqual([
      expect.objectContaining({
        id: run.id,
        name: 'fleetbot/plan',
        status: 'completed',
        conclusion: 'success',
        output: expect.objectContaining({ title: 'Plan: 1 to add', summary: 'gpu fleet' }),
      }),
      expect.objectContaining({ name: 'fleetbot/apply', status: 'queued', conclusion: null }),
    ]);
    expect(run.pull_requests).toEqual([expect.objectContaining({ number, head: expect.objectContaining({ sha: headSha }) })]);
    expect(run.app).toMatchObject({ slug: 'fleetbot' });
  });

  it('refuses check runs from anyone but an App, and invalid ones', async () => {
    const head = github.branchSha(REPO, 'main') as string;
    const create = (client: Client, fields: Record<string, unknown>) =>
      client.rest.checks.create({ owner, repo, name: 'plan', head_sha: head, ...fields });

    await expect(create(person, {})).rejects.toMatchObject({ status: 403 });
    await expect(create(app, { head_sha: 'f'.repeat(40) })).rejects.toMatchObject({ status: 422 });
    await expect(create(app, { status: 'completed' })).rejects.toMatchObject({ status: 422 });
    await expect(create(app, { conclusion: 'success', output: { title: 'Plan', summary: 'x'.repeat(65_536) } })).rejects.toMatchObject({
      status: 422,
    });
    expect(github.checkRuns(REPO)).toEqual([]);
  });
});

describe('webhook events from the fake GitHub', () => {
  it('drive a Probot app, whose writes come back as its bot', async () => {
    const probot = new Probot({ appId: 1, privateKey, baseUrl: github.apiUrl, Octokit: TestOctokit, log });
    await probot.load((bot) => {
      bot.on('issues.opened', async (context) => {
        await context.octokit.rest.issues.createComment(context.issue({ body: 'Planning…' }));
      });
    });
    const number = github.createIssue(REPO, { title: 'New fleet: gpu', body: 'size: gpu', user: 'alice' });

    await probot.receive({ id: 'delivery-1', ...issuesEvent(github, REPO, number, 'opened') } as never);

    expect(github.comments(REPO, number)).toEqual([{ id: expect.any(Number), author: 'fleetbot[bot]', body: 'Planning…', viaApp: true }]);
  });

  it('builds issues events from the issue as the fake has it', async () => {
    const number = github.createIssue(REPO, {
      title: 'New fleet: gpu',
      body: 'size: gpu',
      labels: ['fleet-request'],
      user: 'alice',
    });
    const opened = issuesEvent(github, REPO, number, 'opened', { installationId: 4242 });
    github.editIssue(REPO, number, { body: 'size: large' });
    const edited = issuesEvent(github, REPO, number, 'edited');
    const labeled = issuesEvent(github, REPO, number, 'labeled');
    await app.rest.issues.update({ owner, repo, issue_number: number, state: 'closed', state_reason: 'completed' });
    const closed = issuesEvent(github, REPO, number, 'closed');

    expect(opened.name).toBe('issues');
    expect(opened.payload).toMatchObject({
      action: 'opened',
      issue: { number, title: 'New fleet: gpu', body: 'size: gpu', user: { login: 'alice', type: 'User' } },
      repository: { full_name: REPO, default_branch: 'main', owner: { login: 'acme' } },
      organization: { login: 'acme' },
      installation: { id: 4242 },
      sender: { login: 'alice', id: github.user('alice').id, type: 'User' },
    });
    expect(opened.payload.issue.pull_request).toBeUndefined();
    expect(edited.payload).toMatchObject({
      action: 'edited',
      changes: { body: { from: 'size: gpu' } },
      issue: { body: 'size: large' },
      installation: { id: 1 },
    });
    expect(labeled.payload.label).toMatchObject({ name: 'fleet-request' });
    expect(closed.payload).toMatchObject({
      action: 'closed',
      issue: { state: 'closed', state_reason: 'completed' },
      sender: { login: 'fleetbot[bot]', type: 'Bot' },
    });
  });

  it('records an issue comment before building its event, and marks pull requests', async () => {
    const { number } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'x' });

    const event = issueCommentEvent(github, REPO, number, '/approve', 'alice');

    expect(event.name).toBe('issue_comment');
    expect(event.payload).toMatchObject({
      action: 'created',
      comment: { body: '/approve', user: { login: 'alice', type: 'User' } },
      issue: { number, pull_request: expect.objectContaining({ url: expect.any(String) }) },
      sender: { login: 'alice' },
    });
    expect(github.comments(REPO, number).at(-1)).toMatchObject({ id: event.payload.comment.id, author: 'alice' });
  });

  it('builds pull_request events, synchronize with before and after', async () => {
    const { number, headSha } = await openPull('fleet/gpu', { 'fleets/gpu.yml': 'x' });
    const pushed = github.pushCommit(REPO, 'fleet/gpu', { 'fleets/gpu.yml': 'y' }, { author: 'alice' });

    const synchronize = pullRequestEvent(github, REPO, number, 'synchronize', { sender: 'alice' });
    await app.rest.pulls.merge({ owner, repo, pull_number: number, sha: pushed });
    const closed = pullRequestEvent(github, REPO, number, 'closed');

    expect(synchronize.payload).toMatchObject({
      action: 'synchronize',
      number,
      before: headSha,
      after: pushed,
      pull_request: { head: { sha: pushed, ref: 'fleet/gpu' }, user: { login: 'fleetbot[bot]', type: 'Bot' } },
      sender: { login: 'alice' },
    });
    expect(closed.payload).toMatchObject({
      action: 'closed',
      pull_request: { merged: true, state: 'closed' },
      sender: { login: 'fleetbot[bot]', type: 'Bot' },
    });
  });
});
