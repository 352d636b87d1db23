import { classifyGitHubError, type InstallationOctokit } from '../github-client.js';
import { withRetry, type RetryPolicy } from '../retry.js';
import type { Comparison, IssueOpsGitHub, PullRequestInfo } from './types.js';

/**
 * The GitHub calls IssueOps makes (types.ts's IssueOpsGitHub) over Octokit, for one installation and one
 * repository. Each is retried on 5xx, network errors and rate limits (Octokit's retry plugin is off
 * app-wide, so retries are not doubled).
 */

export interface RepoRef {
  owner: string;
  repo: string;
}

export function parseRepo(fullName: string): RepoRef {
  const [owner, repo] = fullName.split('/');
  return { owner, repo };
}

interface CommentData {
  id: number;
  body?: string;
  user: { login: string } | null;
}

export class OctokitIssueOpsGitHub implements IssueOpsGitHub {
  private readonly ref: RepoRef;

  constructor(
    private readonly octokit: InstallationOctokit,
    readonly fullName: string,
    /** The App's bot login (`<slug>[bot]`): only its own comments are ever edited. */
    private readonly botLogin: string,
    private readonly retry: RetryPolicy,
  ) {
    this.ref = parseRepo(fullName);
  }

  private call<T>(operation: () => Promise<T>): Promise<T> {
    return withRetry(operation, this.retry, classifyGitHubError);
  }

  async defaultBranch(): Promise<string> {
    const { data } = await this.call(() => this.octokit.request('GET /repos/{owner}/{repo}', { ...this.ref }));
    return data.default_branch;
  }

  async branchSha(branch: string): Promise<string | undefined> {
    try {
      const { data } = await this.call(() =>
        this.octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...this.ref, ref: `heads/${branch}` }),
      );
      return data.object.sha;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  async commitTree(sha: string): Promise<string> {
    const { data } = await this.call(() =>
      this.octokit.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { ...this.ref, commit_sha: sha }),
    );
    return data.tree.sha;
  }

  /** One commit on `parent` that writes (string) or deletes (null) the given paths. */
  async createCommit(parent: string, files: Record<string, string | null>, message: string): Promise<string> {
    const baseTree = await this.commitTree(parent);
    const tree = Object.entries(files).map(([path, content]) =>
      content === null
        ? { path, mode: '100644' as const, type: 'blob' as const, sha: null }
        : { path, mode: '100644' as const, type: 'blob' as const, content },
    );
    const { data: newTree } = await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/git/trees', { ...this.ref, base_tree: baseTree, tree }),
    );
    const { data: commit } = await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/git/commits', {
        ...this.ref,
        message,
        tree: newTree.sha,
        parents: [parent],
      }),
    );
    return commit.sha;
  }

  /** Points the branch at `sha`, creating it or moving it (even backwards: fleetbot owns its branches). */
  async setBranch(branch: string, sha: string): Promise<void> {
    const existing = await this.branchSha(branch);
    if (existing === undefined) {
      await this.call(() => this.octokit.request('POST /repos/{owner}/{repo}/git/refs', { ...this.ref, ref: `refs/heads/${branch}`, sha }));
    } else if (existing !== sha) {
      await this.call(() =>
        this.octokit.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ...this.ref, ref: `heads/${branch}`, sha, force: true }),
      );
    }
  }

  /** A file's text at a commit, or undefined when the commit has no such file. */
  async readFile(path: string, sha: string): Promise<string | undefined> {
    try {
      const { data } = await this.call(() =>
        this.octokit.request('GET /repos/{owner}/{repo}/contents/{path}', { ...this.ref, path, ref: sha }),
      );
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return undefined;
      return Buffer.from(data.content, 'base64').toString('utf8');
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  async compare(base: string, head: string): Promise<Comparison> {
    const { data } = await this.call(() =>
      this.octokit.request('GET /repos/{owner}/{repo}/compare/{basehead}', { ...this.ref, basehead: `${base}...${head}`, per_page: 100 }),
    );
    const files = (data.files ?? []).flatMap((file) =>
      file.previous_filename ? [file.previous_filename, file.filename] : [file.filename],
    );
    const authors = data.commits.flatMap((commit) => [commit.author?.login, commit.committer?.login]);
    return { files, authors: [...new Set(authors.filter((login): login is string => typeof login === 'string'))] };
  }

  async openPull(head: string, base: string, title: string, body: string): Promise<PullRequestInfo> {
    const { data } = await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/pulls', { ...this.ref, head, base, title, body }),
    );
    return this.toPull(data);
  }

  async updatePull(number: number, changes: { title?: string; body?: string; state?: 'open' | 'closed' }): Promise<void> {
    await this.call(() =>
      this.octokit.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.ref, pull_number: number, ...changes }),
    );
  }

  async getPull(number: number): Promise<PullRequestInfo> {
    const { data } = await this.call(() =>
      this.octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.ref, pull_number: number }),
    );
    return this.toPull(data);
  }

  private toPull(data: {
    number: number;
    state: string;
    merged?: boolean | null;
    head: { sha: string; ref: string };
    base: { ref: string };
    html_url: string;
    user: { login: string } | null;
  }): PullRequestInfo {
    return {
      number: data.number,
      state: data.state === 'open' ? 'open' : 'closed',
      merged: data.merged === true,
      headSha: data.head.sha,
      headRef: data.head.ref,
      baseRef: data.base.ref,
      htmlUrl: data.html_url,
      authorLogin: data.user?.login ?? '',
    };
  }

  /** Merges only if the head is still `sha`; GitHub answers 409 otherwise. */
  async merge(number: number, sha: string, title: string): Promise<void> {
    await this.call(() =>
      this.octokit.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
        ...this.ref,
        pull_number: number,
        sha,
        merge_method: 'squash',
        commit_title: title,
      }),
    );
  }

  async closeIssue(number: number, reason: 'completed' | 'not_planned'): Promise<void> {
    await this.call(() =>
      this.octokit.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', {
        ...this.ref,
        issue_number: number,
        state: 'closed',
        state_reason: reason,
      }),
    );
  }

  async comment(number: number, body: string): Promise<void> {
    await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...this.ref, issue_number: number, body }),
    );
  }

  /**
   * Creates or updates in place the one comment of the App's own that carries `marker`. A comment by
   * anyone else that copies the marker is never touched.
   */
  async upsertComment(number: number, marker: string, body: string): Promise<void> {
    const mine = await this.findOwnComment(number, marker);
    if (!mine) {
      await this.comment(number, body);
    } else if (mine.body !== body) {
      await this.call(() =>
        this.octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...this.ref, comment_id: mine.id, body }),
      );
    }
  }

  private async findOwnComment(number: number, marker: string): Promise<CommentData | undefined> {
    const comments = await this.call(() =>
      this.octokit.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...this.ref,
        issue_number: number,
        per_page: 100,
      }),
    );
    return (comments as CommentData[]).find((comment) => comment.user?.login === this.botLogin && (comment.body ?? '').startsWith(marker));
  }

  async addLabel(number: number, label: string): Promise<void> {
    await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
        ...this.ref,
        issue_number: number,
        labels: [label],
      }),
    );
  }

  async removeLabel(number: number, label: string): Promise<void> {
    try {
      await this.call(() =>
        this.octokit.request('DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}', {
          ...this.ref,
          issue_number: number,
          name: label,
        }),
      );
    } catch (error) {
      if ((error as { status?: number }).status !== 404) throw error;
    }
  }

  /** The user's repository role (`role_name`: admin, maintain, write, triage, read, or a custom role). */
  async roleOf(username: string): Promise<string> {
    const { data } = await this.call(() =>
      this.octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { ...this.ref, username }),
    );
    return data.role_name;
  }

  async isTeamMember(org: string, teamSlug: string, username: string): Promise<boolean> {
    try {
      const { data } = await this.call(() =>
        this.octokit.request('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', { org, team_slug: teamSlug, username }),
      );
      return data.state === 'active';
    } catch (error) {
      if ((error as { status?: number }).status === 404) return false;
      throw error;
    }
  }

  /** Starts a check run on the head, returning its id for `completeCheck`. */
  async startCheck(headSha: string, name: string, title: string): Promise<number> {
    const { data } = await this.call(() =>
      this.octokit.request('POST /repos/{owner}/{repo}/check-runs', {
        ...this.ref,
        name,
        head_sha: headSha,
        status: 'in_progress',
        output: { title, summary: title },
      }),
    );
    return Number(data.id);
  }

  async completeCheck(id: number, conclusion: 'success' | 'failure' | 'neutral', title: string, summary: string): Promise<void> {
    await this.call(() =>
      this.octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
        ...this.ref,
        check_run_id: id,
        status: 'completed',
        conclusion,
        output: { title, summary: summary.slice(0, 65_535) },
      }),
    );
  }
}
