import type { Comparison, IssueOpsGitHub, PullRequestInfo } from '../../src/issueops/types.js';

interface Pull extends PullRequestInfo {
  title: string;
  body: string;
}

export interface Comment {
  id: number;
  number: number;
  body: string;
}

/**
 * The IssueOps repository on GitHub, in memory: branches, commits as whole trees, pull requests whose
 * head follows their branch, and fleetbot's own comments, labels and check runs. For unit tests of the
 * handlers; the HTTP-level fake (fake-github.ts) stays for the end-to-end tests.
 */
export class MemoryIssueOpsGitHub implements IssueOpsGitHub {
  readonly fullName: string;
  readonly branches = new Map<string, string>();
  readonly trees = new Map<string, Map<string, string>>();
  /** Each commit's parent and the login that wrote it (fleetbot's own commits: the App's bot). */
  readonly commits = new Map<string, { parent: string; author: string }>();
  readonly pulls = new Map<number, Pull>();
  readonly comments: Comment[] = [];
  readonly labels = new Map<number, Set<string>>();
  readonly closedIssues = new Map<number, 'completed' | 'not_planned'>();
  readonly checks = new Map<number, { sha: string; name: string; conclusion?: string; title: string }>();
  readonly merges: { number: number; sha: string; title: string }[] = [];
  /** Repository roles by login; anyone else reads. */
  readonly roles = new Map<string, string>();
  /** `org/team/login` for each team membership. */
  readonly teamMembers = new Set<string>();
  private nextId = 1;

  constructor(fullName = 'acme/runner-fleets', files: Record<string, string> = { 'README.md': '# fleets\n' }) {
    this.fullName = fullName;
    this.trees.set('base', new Map(Object.entries(files)));
    this.branches.set('main', 'base');
  }

  /** A number for a new issue; pull requests take theirs from the same sequence, as on GitHub. */
  issueNumber(): number {
    return this.nextId++;
  }

  commentsOn(number: number): string[] {
    return this.comments.filter((comment) => comment.number === number).map((comment) => comment.body);
  }

  async defaultBranch(): Promise<string> {
    return 'main';
  }

  async branchSha(branch: string): Promise<string | undefined> {
    return this.branches.get(branch);
  }

  async createCommit(parent: string, files: Record<string, string | null>, message: string): Promise<string> {
    const tree = new Map(this.trees.get(parent));
    for (const [path, content] of Object.entries(files)) {
      if (content === null) tree.delete(path);
      else tree.set(path, content);
    }
    const sha = `commit-${this.nextId++}-${message.length}`;
    this.trees.set(sha, tree);
    this.commits.set(sha, { parent, author: 'fleetbot[bot]' });
    return sha;
  }

  async setBranch(branch: string, sha: string): Promise<void> {
    this.branches.set(branch, sha);
  }

  async readFile(path: string, sha: string): Promise<string | undefined> {
    return this.trees.get(sha)?.get(path);
  }

  async compare(base: string, head: string): Promise<Comparison> {
    const baseSha = this.branches.get(base) ?? base;
    const inBase = new Set(this.history(baseSha));
    const own = this.history(head).filter((sha) => !inBase.has(sha));
    const mergeBase = this.history(head).find((sha) => inBase.has(sha)) ?? baseSha;
    const [from, to] = [this.trees.get(mergeBase) ?? new Map<string, string>(), this.trees.get(head) ?? new Map<string, string>()];
    const files = [...new Set([...from.keys(), ...to.keys()])].filter((path) => from.get(path) !== to.get(path));
    const authors = [...new Set(own.map((sha) => this.commits.get(sha)?.author ?? 'fleetbot[bot]'))];
    return { files, authors };
  }

  async openPull(head: string, base: string, title: string, body: string): Promise<PullRequestInfo> {
    const number = this.nextId++;
    const pull: Pull = {
      number,
      state: 'open',
      merged: false,
      headSha: this.branches.get(head) ?? '',
      headRef: head,
      baseRef: base,
      htmlUrl: `https://github.com/${this.fullName}/pull/${number}`,
      authorLogin: 'fleetbot[bot]',
      title,
      body,
    };
    this.pulls.set(number, pull);
    return this.getPull(number);
  }

  async updatePull(number: number, changes: { title?: string; body?: string; state?: 'open' | 'closed' }): Promise<void> {
    Object.assign(this.pull(number), changes);
  }

  async getPull(number: number): Promise<PullRequestInfo> {
    const pull = this.pull(number);
    // An open pull request's head is its branch's; a closed one keeps the head it had.
    const headSha = pull.state === 'open' ? (this.branches.get(pull.headRef) ?? pull.headSha) : pull.headSha;
    const { state, merged, headRef, baseRef, htmlUrl, authorLogin } = pull;
    return { number, state, merged, headSha, headRef, baseRef, htmlUrl, authorLogin };
  }

  async merge(number: number, sha: string, title: string): Promise<void> {
    const pull = await this.getPull(number);
    if (pull.headSha !== sha) throw Object.assign(new Error('Head branch was modified'), { status: 409 });
    Object.assign(this.pull(number), { state: 'closed', merged: true, headSha: sha });
    this.merges.push({ number, sha, title });
  }

  async closeIssue(number: number, reason: 'completed' | 'not_planned'): Promise<void> {
    this.closedIssues.set(number, reason);
  }

  async comment(number: number, body: string): Promise<void> {
    this.comments.push({ id: this.nextId++, number, body });
  }

  async upsertComment(number: number, marker: string, body: string): Promise<void> {
    const mine = this.comments.find((comment) => comment.number === number && comment.body.startsWith(marker));
    if (mine) mine.body = body;
    else await this.comment(number, body);
  }

  async addLabel(number: number, label: string): Promise<void> {
    this.labels.set(number, (this.labels.get(number) ?? new Set()).add(label));
  }

  async removeLabel(number: number, label: string): Promise<void> {
    this.labels.get(number)?.delete(label);
  }

  async roleOf(username: string): Promise<string> {
    return this.roles.get(username) ?? 'read';
  }

  async isTeamMember(org: string, teamSlug: string, username: string): Promise<boolean> {
    return this.teamMembers.has(`${org}/${teamSlug}/${username}`);
  }

  async startCheck(headSha: string, name: string, title: string): Promise<number> {
    const id = this.nextId++;
    this.checks.set(id, { sha: headSha, name, title });
    return id;
  }

  async completeCheck(id: number, conclusion: 'success' | 'failure' | 'neutral', title: string): Promise<void> {
    Object.assign(this.checks.get(id) ?? {}, { conclusion, title });
  }

  /** A push to the pull request's branch: a commit on its head that writes `files`, by `author`. */
  async push(number: number, files: Record<string, string | null>, author = 'someone'): Promise<string> {
    const pull = this.pull(number);
    const sha = await this.createCommit(this.branches.get(pull.headRef) ?? 'base', files, 'push');
    this.commits.set(sha, { parent: this.branches.get(pull.headRef) ?? 'base', author });
    await this.setBranch(pull.headRef, sha);
    return sha;
  }

  /** A commit and its ancestors, nearest first. */
  private history(sha: string): string[] {
    const chain: string[] = [];
    for (let at: string | undefined = sha; at !== undefined && !chain.includes(at); at = this.commits.get(at)?.parent) chain.push(at);
    return chain;
  }

  private pull(number: number): Pull {
    const pull = this.pulls.get(number);
    if (!pull) throw Object.assign(new Error(`no pull request #${number}`), { status: 404 });
    return pull;
  }
}
