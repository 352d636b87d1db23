import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FakeAppSettings } from './fake-github-app.js';
import type { Reply, Route, RouteRequest } from './fake-github.js';

/**
 * The repository side of the fake GitHub: an in-memory model of repositories (git objects and refs), issues and
 * pull requests (one number sequence), comments, labels, check runs, repository roles and team memberships; the
 * REST routes that read and change it; and the test-side API (FakeReposApi) that sets it up and reads it back.
 * Responses carry every top-level field GHES 3.19's description marks required.
 */

/** A REST representation, as GitHub sends it. */
export type Json = Record<string, any>;

export type RoleName = 'read' | 'triage' | 'write' | 'maintain' | 'admin';

export interface IssueChanges {
  title?: { from: string };
  body?: { from: string };
}

export interface CommentSummary {
  id: number;
  /** The login, e.g. 'octocat' or 'fleetbot[bot]'. */
  author: string;
  body: string;
  /** Written with an installation token of the App (`performed_via_github_app` is set). */
  viaApp: boolean;
}

export interface MergedPull {
  fullName: string;
  number: number;
  /** The head the merge took, i.e. what `sha` had to be. */
  headSha: string;
  mergeCommitSha: string;
}

/** The App as GET /app describes it; its bot user is `<slug>[bot]`. */
export interface AppIdentity {
  id: number;
  slug: string;
  /** The organisation that owns the App. */
  owner: string;
}

export interface RepoOptions {
  defaultBranch?: string;
  /** Path → text of the initial commit. */
  files?: Record<string, string>;
  /** Default true. */
  private?: boolean;
  /** Default 'Organization'. */
  ownerType?: 'Organization' | 'User';
}

/** Test-side API of the repository model; FakeGitHub carries all of it. */
export interface FakeReposApi {
  /** The App's id, slug and owner, and the login its installation tokens write as. */
  app: AppIdentity & { botLogin: string };
  /** Creates a repository (e.g. 'acme/runner-fleets') whose default branch has one commit; returns its SHA. */
  createRepo(fullName: string, options?: RepoOptions): string;
  /** Files an issue, as a person does from an issue form; returns its number. `user` defaults to the default user. */
  createIssue(fullName: string, issue: { title: string; body: string; labels?: string[]; user?: string }): number;
  /** Edits an issue as `by` (default: its author); returns the changes, as an `issues.edited` payload has them. */
  editIssue(fullName: string, number: number, edit: { title?: string; body?: string; by?: string }): IssueChanges;
  /** A person comments on an issue or pull request; returns the comment id. */
  createComment(fullName: string, number: number, body: string, username: string): number;
  /** Gives a user a repository role; users without one read as `read`. */
  setRole(fullName: string, username: string, role: RoleName): void;
  addTeamMember(org: string, teamSlug: string, username: string, role?: 'member' | 'maintainer'): void;
  /**
   * A person pushes one commit to `branch` (created from the default branch when absent): `files` maps paths to
   * their new text, null deleting the path. Returns the commit's SHA; open pull requests from the branch follow.
   */
  pushCommit(
    fullName: string,
    branch: string,
    files: Record<string, string | null>,
    options?: { author?: string; message?: string },
  ): string;
  /** A file's text at a branch, tag or commit SHA; undefined when the path or the ref does not exist. */
  readFile(fullName: string, ref: string, path: string): string | undefined;
  branchSha(fullName: string, branch: string): string | undefined;
  /** REST representations, as a GET would answer them. */
  repository(fullName: string): Json;
  issue(fullName: string, number: number): Json;
  pull(fullName: string, number: number): Json;
  comment(fullName: string, commentId: number): Json;
  /** A user, bot (login ending in `[bot]`) or organisation, with its stable id. */
  user(login: string): Json;
  /** What the last edit of an issue changed (an `issues.edited` payload's `changes`); {} when never edited. */
  lastIssueChanges(fullName: string, number: number): IssueChanges;
  /** A pull request's head before its branch last moved (`synchronize`'s `before`); undefined if it never moved. */
  previousHead(fullName: string, number: number): string | undefined;
  /** The comments on an issue or pull request, oldest first. */
  comments(fullName: string, number: number): CommentSummary[];
  /** Label names on an issue or pull request, in the order they were added. */
  labels(fullName: string, number: number): string[];
  /** The latest check run per head SHA and name (GitHub's `filter=latest`), oldest first, as REST has them. */
  checkRuns(fullName: string, headSha?: string): Json[];
  /** Every merge through PUT .../pulls/{n}/merge, in order. */
  mergedPulls: MergedPull[];
}

export interface RepoModelOptions {
  /** e.g. http://127.0.0.1:54321, for html_url */
  url: string;
  /** url + '/api/v3' */
  apiUrl: string;
  app: AppIdentity;
  /** Who requests without an installation token of the fake act as. */
  defaultUser: string;
  /** The installation tokens the fake issued, filled as it issues them: their bearers act as the App's bot. */
  installationTokens: readonly string[];
  /** The App's permissions and events (fake-github-app.ts), read at each request. */
  appSettings: FakeAppSettings;
}

/** GitHub's limit for issue, pull request and comment bodies, in characters. */
export const MAX_BODY_CHARACTERS = 65_536;
/** GitHub's limit for a check run's output summary and text. */
export const MAX_CHECK_OUTPUT_CHARACTERS = 65_535;

interface GitIdentity {
  name: string;
  email: string;
  date: string;
}

interface GitCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: GitIdentity;
  committer: GitIdentity;
}

/** Path → blob SHA. Flat: directories exist only as path prefixes, and every file has mode 100644. */
type Tree = ReadonlyMap<string, string>;

interface PullState {
  id: number;
  head: string;
  base: string;
  headSha: string;
  /** The head before it last moved: `before` of a `synchronize` payload. */
  previousHeadSha: string | undefined;
  /** The base branch's SHA when the pull request closed; while open, the branch's current SHA counts. */
  closedBaseSha: string | undefined;
  draft: boolean;
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
}

interface IssueState {
  id: number;
  number: number;
  title: string;
  body: string | null;
  user: string;
  state: 'open' | 'closed';
  stateReason: string | null;
  labels: string[];
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  closedBy: string | null;
  lastChanges: IssueChanges;
  /** Set when the issue is a pull request. */
  pull: PullState | undefined;
}

type PullIssue = IssueState & { pull: PullState };

interface CommentState {
  id: number;
  issueNumber: number;
  body: string;
  user: string;
  viaApp: boolean;
  createdAt: string;
  updatedAt: string;
}

interface LabelState {
  id: number;
  name: string;
  color: string;
}

interface CheckRunState {
  id: number;
  name: string;
  headSha: string;
  status: string;
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  checkSuiteId: number;
}

interface RepoState {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  private: boolean;
  defaultBranch: string;
  createdAt: string;
  pushedAt: string;
  blobs: Map<string, Buffer>;
  trees: Map<string, Tree>;
  commits: Map<string, GitCommit>;
  /** Full ref name ('refs/heads/main') → commit SHA. */
  refs: Map<string, string>;
  /** Issues and pull requests, by number. */
  issues: Map<number, IssueState>;
  comments: Map<number, CommentState>;
  /** By lower-case name: GitHub's label names are case-insensitive. */
  labels: Map<string, LabelState>;
  /** By lower-case login. */
  roles: Map<string, RoleName>;
  checkRuns: Map<number, CheckRunState>;
  /** Head SHA → check suite id (one suite per head for the one App). */
  checkSuites: Map<string, number>;
}

interface Actor {
  login: string;
  viaApp: boolean;
}

/** A refusal, as GitHub words it; routes turn it into the reply. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Json[],
  ) {
    super(message);
  }
}

/** 422 with a `validation-error` body: an invalid field, or a custom message. */
function validationFailed(resource: string, problem: { field: string; code?: string } | { message: string }): ApiError {
  const error = 'message' in problem ? { resource, code: 'custom', ...problem } : { resource, code: 'invalid', ...problem };
  return new ApiError(422, 'Validation Failed', [error]);
}

/** The shape of GitHub's `basic-error` (`validation-error` when `errors` is given). */
export function apiError(status: number, message: string, errors?: Json[]): Reply {
  const documentation_url = 'https://docs.github.com/enterprise-server@3.19/rest';
  return { status, body: { message, documentation_url, status: String(status), ...(errors ? { errors } : {}) } };
}

const PERMISSION_OF_ROLE: Record<RoleName, 'read' | 'write' | 'admin'> = {
  read: 'read',
  triage: 'read',
  write: 'write',
  maintain: 'write',
  admin: 'admin',
};
const ROLES_ASCENDING: RoleName[] = ['read', 'triage', 'write', 'maintain', 'admin'];

function sha1(text: string | Buffer): string {
  return createHash('sha1').update(text).digest('hex');
}

function nodeId(kind: string, id: number | string): string {
  return Buffer.from(`0:${kind}${id}`).toString('base64');
}

/** GitHub writes timestamps to the second. */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** GitHub (Ruby) counts characters as code points, not UTF-16 units. */
function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tooLong(resource: string, field: string, value: unknown, limit = MAX_BODY_CHARACTERS): void {
  if (typeof value === 'string' && characterCount(value) > limit) {
    throw new ApiError(422, 'Validation Failed', [
      { resource, code: 'custom', field, message: `${field} is too long (maximum is ${limit} characters)` },
    ]);
  }
}

/** Three-way merge, file by file: a path changed on one side takes that side; changed on both, it conflicts. */
function mergeTrees(base: Tree, ours: Tree, theirs: Tree): { tree: Map<string, string>; conflicts: string[] } {
  const tree = new Map<string, string>();
  const conflicts: string[] = [];
  for (const path of new Set([...base.keys(), ...ours.keys(), ...theirs.keys()])) {
    const [b, o, t] = [base.get(path), ours.get(path), theirs.get(path)];
    const merged = o === t || t === b ? o : o === b ? t : null;
    if (merged === null) conflicts.push(path);
    else if (merged !== undefined) tree.set(path, merged);
  }
  return { tree, conflicts };
}

/** The `*_url` fields of a full repository, after its API URL. */
const REPO_URL_SUFFIXES: Record<string, string> = {
  forks_url: '/forks',
  keys_url: '/keys{/key_id}',
  collaborators_url: '/collaborators{/collaborator}',
  teams_url: '/teams',
  hooks_url: '/hooks',
  issue_events_url: '/issues/events{/number}',
  events_url: '/events',
  assignees_url: '/assignees{/user}',
  branches_url: '/branches{/branch}',
  tags_url: '/tags',
  blobs_url: '/git/blobs{/sha}',
  git_tags_url: '/git/tags{/sha}',
  git_refs_url: '/git/refs{/sha}',
  trees_url: '/git/trees{/sha}',
  statuses_url: '/statuses/{sha}',
  languages_url: '/languages',
  stargazers_url: '/stargazers',
  contributors_url: '/contributors',
  subscribers_url: '/subscribers',
  subscription_url: '/subscription',
  commits_url: '/commits{/sha}',
  git_commits_url: '/git/commits{/sha}',
  comments_url: '/comments{/number}',
  issue_comment_url: '/issues/comments{/number}',
  contents_url: '/contents/{+path}',
  compare_url: '/compare/{base}...{head}',
  merges_url: '/merges',
  archive_url: '/{archive_format}{/ref}',
  downloads_url: '/downloads',
  issues_url: '/issues{/number}',
  pulls_url: '/pulls{/number}',
  milestones_url: '/milestones{/number}',
  notifications_url: '/notifications{?since,all,participating}',
  labels_url: '/labels{/name}',
  releases_url: '/releases{/id}',
  deployments_url: '/deployments',
};

/** The repository model: state and the operations routes and tests share. */
export class RepoModel {
  readonly botLogin: string;
  readonly mergedPulls: MergedPull[] = [];
  private readonly repos = new Map<string, RepoState>();
  private readonly organisations = new Set<string>();
  /** 'org/team' (lower case) → login (lower case) → role. */
  private readonly teams = new Map<string, Map<string, 'member' | 'maintainer'>>();
  private readonly userIds = new Map<string, number>();
  private readonly usedUserIds = new Set<number>();
  private readonly createdAt = now();
  private lastId = 1000;

  constructor(private readonly options: RepoModelOptions) {
    this.botLogin = `${options.app.slug}[bot]`;
    this.organisations.add(options.app.owner.toLowerCase());
  }

  nextId(): number {
    return ++this.lastId;
  }

  // ---- people --------------------------------------------------------------------------------------------

  actor(headers: IncomingHttpHeaders): Actor {
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
    if (token && this.options.installationTokens.includes(token)) return { login: this.botLogin, viaApp: true };
    return { login: this.options.defaultUser, viaApp: false };
  }

  userId(login: string): number {
    const key = login.toLowerCase();
    let id = this.userIds.get(key);
    if (id === undefined) {
      // Stable across runs: derived from the login, bumped past the rare collision.
      id = 100_000 + (parseInt(sha1(key).slice(0, 7), 16) % 90_000_000);
      while (this.usedUserIds.has(id)) id++;
      this.userIds.set(key, id);
      this.usedUserIds.add(id);
    }
    return id;
  }

  addOrganisation(login: string): void {
    this.organisations.add(login.toLowerCase());
  }

  roleOf(repo: RepoState, login: string): RoleName | undefined {
    return repo.roles.get(login.toLowerCase());
  }

  teamRole(org: string, team: string, login: string): 'member' | 'maintainer' | undefined {
    return this.teams.get(`${org}/${team}`.toLowerCase())?.get(login.toLowerCase());
  }

  addTeamMember(org: string, team: string, login: string, role: 'member' | 'maintainer'): void {
    this.addOrganisation(org);
    const key = `${org}/${team}`.toLowerCase();
    const members = this.teams.get(key) ?? new Map<string, 'member' | 'maintainer'>();
    members.set(login.toLowerCase(), role);
    this.teams.set(key, members);
  }

  private association(repo: RepoState, login: string): string {
    if (login.toLowerCase() === repo.owner.toLowerCase()) return 'OWNER';
    if (login === this.botLogin) return 'NONE';
    const orgPrefix = `${repo.owner.toLowerCase()}/`;
    const inOrg = [...this.teams].some(([team, members]) => team.startsWith(orgPrefix) && members.has(login.toLowerCase()));
    if (inOrg) return 'MEMBER';
    return this.roleOf(repo, login) ? 'COLLABORATOR' : 'NONE';
  }

  // ---- lookups -------------------------------------------------------------------------------------------

  findRepo(owner: string, name: string): RepoState | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  /** For the test-side API: a repository the test must have created. */
  repo(fullName: string): RepoState {
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo) throw new Error(`the fake GitHub has no repository ${fullName}; createRepo it first`);
    return repo;
  }

  issue(repo: RepoState, number: number): IssueState {
    const issue = repo.issues.get(number);
    if (!issue) throw new ApiError(404, 'Not Found');
    return issue;
  }

  pull(repo: RepoState, number: number): PullIssue {
    const issue = this.issue(repo, number);
    if (!issue.pull) throw new ApiError(404, 'Not Found');
    return issue as PullIssue;
  }

  comment(repo: RepoState, id: number): CommentState {
    const comment = repo.comments.get(id);
    if (!comment) throw new ApiError(404, 'Not Found');
    return comment;
  }

  commentsOn(repo: RepoState, number: number): CommentState[] {
    return [...repo.comments.values()].filter((comment) => comment.issueNumber === number);
  }

  /** The latest check run per head SHA and name, oldest first. */
  latestCheckRuns(repo: RepoState, headSha?: string): CheckRunState[] {
    const latest = new Map<string, CheckRunState>();
    for (const run of repo.checkRuns.values()) {
      if (headSha === undefined || run.headSha === headSha) latest.set(`${run.headSha}\0${run.name}`, run);
    }
    return [...latest.values()].sort((a, b) => a.id - b.id);
  }

  // ---- git objects and refs ------------------------------------------------------------------------------

  createRepo(fullName: string, options: RepoOptions): string {
    const [owner, name, ...rest] = fullName.split('/');
    if (!owner || !name || rest.length > 0) throw new Error(`"${fullName}" is not owner/name`);
    if (this.repos.has(fullName.toLowerCase())) throw new Error(`repository ${fullName} exists already`);
    if ((options.ownerType ?? 'Organization') === 'Organization') this.addOrganisation(owner);
    const createdAt = now();
    const repo: RepoState = {
      id: this.nextId(),
      owner,
      name,
      fullName,
      private: options.private ?? true,
      defaultBranch: options.defaultBranch ?? 'main',
      createdAt,
      pushedAt: createdAt,
      blobs: new Map(),
      trees: new Map(),
      commits: new Map(),
      refs: new Map(),
      issues: new Map(),
      comments: new Map(),
      labels: new Map(),
      roles: new Map(),
      checkRuns: new Map(),
      checkSuites: new Map(),
    };
    this.repos.set(fullName.toLowerCase(), repo);
    const sha = this.commitFiles(repo, [], new Map(), options.files ?? {}, 'Initial commit', this.options.defaultUser);
    this.moveRef(repo, `refs/heads/${repo.defaultBranch}`, sha, this.options.defaultUser);
    return sha;
  }

  /** A commit on `parents` whose tree is `base` with `files` written (text) or deleted (null). */
  commitFiles(
    repo: RepoState,
    parents: string[],
    base: Tree,
    files: Record<string, string | null>,
    message: string,
    author: string,
  ): string {
    const tree = new Map(base);
    for (const [path, text] of Object.entries(files)) {
      if (text === null) tree.delete(path);
      else tree.set(path, this.writeBlob(repo, Buffer.from(text)));
    }
    const identity = this.identity(author);
    const treeSha = this.writeTree(repo, tree);
    return this.writeCommit(repo, { tree: treeSha, parents, message, author: identity, committer: identity });
  }

  writeBlob(repo: RepoState, content: Buffer): string {
    // Git's own blob id, so a SHA can be checked with `git hash-object`.
    const sha = sha1(Buffer.concat([Buffer.from(`blob ${content.length}\0`), content]));
    repo.blobs.set(sha, content);
    return sha;
  }

  writeTree(repo: RepoState, tree: Tree): string {
    const entries = [...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sha = sha1(`tree\0${entries.map(([path, blob]) => `${path}\0${blob}`).join('\n')}`);
    repo.trees.set(sha, new Map(entries));
    return sha;
  }

  writeCommit(repo: RepoState, commit: Omit<GitCommit, 'sha'>): string {
    const { tree, parents, message, author, committer } = commit;
    const sha = sha1(`commit\0${JSON.stringify({ tree, parents, message, author, committer })}`);
    repo.commits.set(sha, { sha, tree, parents, message, author, committer });
    return sha;
  }

  identity(login: string, date = now()): GitIdentity {
    return { name: login, email: `${this.userId(login)}+${login}@users.noreply.github.com`, date };
  }

  treeOfCommit(repo: RepoState, sha: string): Tree {
    const commit = repo.commits.get(sha);
    const tree = commit && repo.trees.get(commit.tree);
    if (!tree) throw new Error(`${repo.fullName} has no commit ${sha}`);
    return tree;
  }

  /** A branch, tag, full ref name or commit SHA → commit SHA. */
  resolveCommit(repo: RepoState, ref: string): string | undefined {
    for (const name of [ref, `refs/heads/${ref}`, `refs/tags/${ref}`]) {
      const sha = repo.refs.get(name);
      if (sha) return sha;
    }
    return repo.commits.has(ref) ? ref : undefined;
  }

  readFile(repo: RepoState, ref: string, path: string): Buffer | undefined {
    const commit = this.resolveCommit(repo, ref);
    const blob = commit === undefined ? undefined : this.treeOfCommit(repo, commit).get(path);
    return blob === undefined ? undefined : repo.blobs.get(blob);
  }

  /** Every commit reachable from `sha`, itself included, nearest first. */
  ancestors(repo: RepoState, sha: string): string[] {
    const seen = new Set<string>();
    const queue = [sha];
    while (queue.length > 0) {
      const next = queue.shift() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(...(repo.commits.get(next)?.parents ?? []));
    }
    return [...seen];
  }

  mergeBase(repo: RepoState, a: string, b: string): string | undefined {
    const ofA = new Set(this.ancestors(repo, a));
    return this.ancestors(repo, b).find((sha) => ofA.has(sha));
  }

  /**
   * Points a ref at a commit, or deletes it (sha undefined). As on GitHub, open pull requests from the branch
   * take the new head, and deleting the head or base branch of an open pull request closes it.
   */
  moveRef(repo: RepoState, ref: string, sha: string | undefined, by: string): void {
    if (sha === undefined) repo.refs.delete(ref);
    else repo.refs.set(ref, sha);
    const branch = /^refs\/heads\/(.+)$/.exec(ref)?.[1];
    if (branch === undefined) return;
    repo.pushedAt = now();
    for (const issue of repo.issues.values()) {
      const pull = issue.pull;
      if (!pull || issue.state !== 'open') continue;
      if (sha === undefined && (pull.head === branch || pull.base === branch)) {
        this.setState(repo, issue, 'closed', null, by);
      } else if (sha !== undefined && pull.head === branch && pull.headSha !== sha) {
        pull.previousHeadSha = pull.headSha;
        pull.headSha = sha;
        issue.updatedAt = now();
      }
    }
  }

  // ---- issues, pull requests, comments, labels -----------------------------------------------------------

  newIssue(repo: RepoState, fields: { title: string; body: string | null; user: string; pull?: PullState }): IssueState {
    const created = now();
    const issue: IssueState = {
      ...fields,
      id: this.nextId(),
      number: repo.issues.size + 1,
      state: 'open',
      stateReason: null,
      labels: [],
      createdAt: created,
      updatedAt: created,
      closedAt: null,
      closedBy: null,
      lastChanges: {},
      pull: fields.pull,
    };
    repo.issues.set(issue.number, issue);
    return issue;
  }

  applyEdit(issue: IssueState, edit: { title?: unknown; body?: unknown }): IssueChanges {
    const changes: IssueChanges = {};
    if (typeof edit.title === 'string' && edit.title !== issue.title) {
      changes.title = { from: issue.title };
      issue.title = edit.title;
    }
    if (typeof edit.body === 'string' && edit.body !== issue.body) {
      changes.body = { from: issue.body ?? '' };
      issue.body = edit.body;
    }
    if (changes.title || changes.body) {
      issue.lastChanges = changes;
      issue.updatedAt = now();
    }
    return changes;
  }

  setState(repo: RepoState, issue: IssueState, state: 'open' | 'closed', reason: string | null, by: string): void {
    const pull = issue.pull;
    if (state === issue.state) {
      if (state === 'closed' && reason && !pull) issue.stateReason = reason;
      return;
    }
    issue.state = state;
    issue.updatedAt = now();
    issue.closedAt = state === 'closed' ? issue.updatedAt : null;
    issue.closedBy = state === 'closed' ? by : null;
    if (!pull) {
      issue.stateReason = state === 'closed' ? (reason ?? 'completed') : 'reopened';
    } else if (state === 'closed') {
      pull.closedBaseSha = repo.refs.get(`refs/heads/${pull.base}`);
    } else {
      pull.closedBaseSha = undefined;
      const head = repo.refs.get(`refs/heads/${pull.head}`);
      if (head && head !== pull.headSha) [pull.previousHeadSha, pull.headSha] = [pull.headSha, head];
    }
  }

  label(repo: RepoState, name: string): LabelState {
    const key = name.toLowerCase();
    let label = repo.labels.get(key);
    if (!label) {
      // Adding a label the repository lacks creates it, in GitHub's grey.
      label = { id: this.nextId(), name, color: 'ededed' };
      repo.labels.set(key, label);
    }
    return label;
  }

  setLabels(repo: RepoState, issue: IssueState, names: string[]): void {
    issue.labels = [];
    this.addLabels(repo, issue, names);
  }

  addLabels(repo: RepoState, issue: IssueState, names: string[]): void {
    for (const name of names) {
      const label = this.label(repo, name).name;
      if (!issue.labels.some((existing) => existing.toLowerCase() === label.toLowerCase())) issue.labels.push(label);
    }
    issue.updatedAt = now();
  }

  addComment(repo: RepoState, issue: IssueState, body: string, actor: Actor): CommentState {
    const created = now();
    const comment: CommentState = {
      id: this.nextId(),
      issueNumber: issue.number,
      body,
      user: actor.login,
      viaApp: actor.viaApp,
      createdAt: created,
      updatedAt: created,
    };
    repo.comments.set(comment.id, comment);
    issue.updatedAt = created;
    return comment;
  }

  private baseShaOf(repo: RepoState, pull: PullState): string | undefined {
    return pull.closedBaseSha ?? repo.refs.get(`refs/heads/${pull.base}`);
  }

  /** The tree merging the pull request would give, and the paths in conflict. */
  private mergeResult(repo: RepoState, pull: PullState): { tree: Map<string, string>; conflicts: string[] } {
    const baseSha = this.baseShaOf(repo, pull) as string;
    const common = this.mergeBase(repo, baseSha, pull.headSha);
    const commonTree: Tree = common ? this.treeOfCommit(repo, common) : new Map();
    return mergeTrees(commonTree, this.treeOfCommit(repo, baseSha), this.treeOfCommit(repo, pull.headSha));
  }

  /** PUT .../pulls/{n}/merge: `merge` makes a merge commit, `squash` and `rebase` one commit on the base. */
  merge(repo: RepoState, issue: PullIssue, request: Json, actor: Actor): Json {
    const { pull } = issue;
    if (issue.state !== 'open') throw new ApiError(405, 'Pull Request is not mergeable');
    if (typeof request.sha === 'string' && request.sha !== pull.headSha) {
      throw new ApiError(409, 'Head branch was modified. Review and try the merge again.');
    }
    const baseSha = this.baseShaOf(repo, pull) as string;
    const { tree, conflicts } = this.mergeResult(repo, pull);
    if (conflicts.length > 0) throw new ApiError(405, 'Pull Request is not mergeable');

    const method = request.merge_method ?? 'merge';
    const defaultTitle =
      method === 'merge' ? `Merge pull request #${issue.number} from ${repo.owner}/${pull.head}` : `${issue.title} (#${issue.number})`;
    const title = typeof request.commit_title === 'string' ? request.commit_title : defaultTitle;
    const details = typeof request.commit_message === 'string' ? request.commit_message : method === 'merge' ? issue.title : '';
    const identity = this.identity(actor.login);
    const sha = this.writeCommit(repo, {
      tree: this.writeTree(repo, tree),
      parents: method === 'merge' ? [baseSha, pull.headSha] : [baseSha],
      message: details ? `${title}\n\n${details}` : title,
      author: identity,
      committer: identity,
    });
    this.moveRef(repo, `refs/heads/${pull.base}`, sha, actor.login);
    Object.assign(pull, { merged: true, mergedAt: now(), mergedBy: actor.login, mergeCommitSha: sha });
    this.setState(repo, issue, 'closed', null, actor.login);
    // The pull request's base stays the commit it was merged into.
    pull.closedBaseSha = baseSha;
    this.mergedPulls.push({ fullName: repo.fullName, number: issue.number, headSha: pull.headSha, mergeCommitSha: sha });
    return { sha, merged: true, message: 'Pull Request successfully merged' };
  }

  // ---- REST representations ------------------------------------------------------------------------------

  repoApiUrl(repo: RepoState): string {
    return `${this.options.apiUrl}/repos/${repo.fullName}`;
  }

  repoHtmlUrl(repo: RepoState): string {
    return `${this.options.url}/${repo.fullName}`;
  }

  userJson(login: string): Json {
    const api = `${this.options.apiUrl}/users/${login}`;
    const isBot = login.endsWith('[bot]');
    const type = isBot ? 'Bot' : this.organisations.has(login.toLowerCase()) ? 'Organization' : 'User';
    const id = this.userId(login);
    return {
      login,
      id,
      node_id: nodeId(type, id),
      avatar_url: `${this.options.url}/avatars/u/${id}`,
      gravatar_id: '',
      url: api,
      html_url: isBot ? `${this.options.url}/apps/${login.slice(0, -'[bot]'.length)}` : `${this.options.url}/${login}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type,
      site_admin: false,
      user_view_type: 'public',
    };
  }

  appJson(): Json {
    const { id, slug, owner } = this.options.app;
    return {
      id,
      slug,
      node_id: nodeId('Integration', id),
      client_id: `Iv1.${sha1(slug).slice(0, 16)}`,
      owner: this.userJson(owner),
      name: slug.charAt(0).toUpperCase() + slug.slice(1),
      description: '',
      external_url: `${this.options.url}/${owner}/${slug}`,
      html_url: `${this.options.url}/apps/${slug}`,
      created_at: this.createdAt,
      updated_at: this.createdAt,
      permissions: { ...this.options.appSettings.permissions },
      events: [...this.options.appSettings.events],
      installations_count: 1,
    };
  }

  repoJson(repo: RepoState): Json {
    const api = this.repoApiUrl(repo);
    const html = this.repoHtmlUrl(repo);
    const host = new URL(this.options.url).host;
    const urls = Object.fromEntries(Object.entries(REPO_URL_SUFFIXES).map(([key, suffix]) => [key, `${api}${suffix}`]));
    const openIssues = [...repo.issues.values()].filter((issue) => issue.state === 'open').length;
    const owner = this.userJson(repo.owner);
    return {
      id: repo.id,
      node_id: nodeId('Repository', repo.id),
      name: repo.name,
      full_name: repo.fullName,
      private: repo.private,
      owner,
      html_url: html,
      description: null,
      fork: false,
      url: api,
      ...urls,
      created_at: repo.createdAt,
      updated_at: repo.pushedAt,
      pushed_at: repo.pushedAt,
      git_url: `git://${host}/${repo.fullName}.git`,
      ssh_url: `git@${host}:${repo.fullName}.git`,
      clone_url: `${html}.git`,
      svn_url: html,
      homepage: null,
      size: 0,
      stargazers_count: 0,
      watchers_count: 0,
      language: null,
      has_issues: true,
      has_projects: true,
      has_downloads: true,
      has_wiki: true,
      has_pages: false,
      has_discussions: false,
      forks_count: 0,
      mirror_url: null,
      archived: false,
      disabled: false,
      open_issues_count: openIssues,
      license: null,
      allow_forking: false,
      is_template: false,
      web_commit_signoff_required: false,
      topics: [],
      visibility: repo.private ? 'private' : 'public',
      forks: 0,
      open_issues: openIssues,
      watchers: 0,
      default_branch: repo.defaultBranch,
      allow_merge_commit: true,
      allow_squash_merge: true,
      allow_rebase_merge: true,
      delete_branch_on_merge: false,
      network_count: 0,
      subscribers_count: 0,
      ...(owner.type === 'Organization' ? { organization: owner } : {}),
    };
  }

  labelJson(repo: RepoState, name: string): Json {
    const label = this.label(repo, name);
    return {
      id: label.id,
      node_id: nodeId('Label', label.id),
      url: `${this.repoApiUrl(repo)}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      description: null,
      color: label.color,
      default: false,
    };
  }

  issueJson(repo: RepoState, issue: IssueState): Json {
    const url = `${this.repoApiUrl(repo)}/issues/${issue.number}`;
    const htmlUrl = `${this.repoHtmlUrl(repo)}/${issue.pull ? 'pull' : 'issues'}/${issue.number}`;
    return {
      id: issue.id,
      node_id: nodeId('Issue', issue.id),
      url,
      repository_url: this.repoApiUrl(repo),
      labels_url: `${url}/labels{/name}`,
      comments_url: `${url}/comments`,
      events_url: `${url}/events`,
      html_url: htmlUrl,
      number: issue.number,
      state: issue.state,
      state_reason: issue.stateReason,
      title: issue.title,
      body: issue.body,
      user: this.userJson(issue.user),
      labels: issue.labels.map((name) => this.labelJson(repo, name)),
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: this.commentsOn(repo, issue.number).length,
      closed_at: issue.closedAt,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_by: issue.closedBy === null ? null : this.userJson(issue.closedBy),
      author_association: this.association(repo, issue.user),
      timeline_url: `${url}/timeline`,
      performed_via_github_app: issue.user === this.botLogin ? this.appJson() : null,
      ...(issue.pull
        ? {
            draft: issue.pull.draft,
            pull_request: {
              url: `${this.repoApiUrl(repo)}/pulls/${issue.number}`,
              html_url: htmlUrl,
              diff_url: `${htmlUrl}.diff`,
              patch_url: `${htmlUrl}.patch`,
              merged_at: issue.pull.mergedAt,
            },
          }
        : {}),
    };
  }

  pullJson(repo: RepoState, issue: PullIssue): Json {
    const { pull } = issue;
    const api = `${this.repoApiUrl(repo)}/pulls/${issue.number}`;
    const issueUrl = `${this.repoApiUrl(repo)}/issues/${issue.number}`;
    const html = `${this.repoHtmlUrl(repo)}/pull/${issue.number}`;
    const statusesUrl = `${this.repoApiUrl(repo)}/statuses/${pull.headSha}`;
    const reviewCommentUrl = `${this.repoApiUrl(repo)}/pulls/comments{/number}`;
    const baseSha = this.baseShaOf(repo, pull) as string;
    const end = (ref: string, sha: string) => ({
      label: `${repo.owner}:${ref}`,
      ref,
      sha,
      user: this.userJson(repo.owner),
      repo: this.repoJson(repo),
    });
    const inBase = new Set(this.ancestors(repo, baseSha));
    const commits = this.ancestors(repo, pull.headSha).filter((sha) => !inBase.has(sha)).length;
    const common = this.mergeBase(repo, baseSha, pull.headSha);
    const fromTree: Tree = common ? this.treeOfCommit(repo, common) : new Map();
    const headTree = this.treeOfCommit(repo, pull.headSha);
    const paths = new Set([...fromTree.keys(), ...headTree.keys()]);
    const changedFiles = [...paths].filter((path) => fromTree.get(path) !== headTree.get(path)).length;
    const mergeable = issue.state === 'open' ? this.mergeResult(repo, pull).conflicts.length === 0 : null;
    return {
      url: api,
      id: pull.id,
      node_id: nodeId('PullRequest', pull.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: issueUrl,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: reviewCommentUrl,
      comments_url: `${issueUrl}/comments`,
      statuses_url: statusesUrl,
      number: issue.number,
      state: issue.state,
      locked: false,
      title: issue.title,
      user: this.userJson(issue.user),
      body: issue.body,
      labels: issue.labels.map((name) => this.labelJson(repo, name)),
      milestone: null,
      active_lock_reason: null,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: issue.closedAt,
      merged_at: pull.mergedAt,
      merge_commit_sha: pull.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: end(pull.head, pull.headSha),
      base: end(pull.base, baseSha),
      _links: {
        self: { href: api },
        html: { href: html },
        issue: { href: issueUrl },
        comments: { href: `${issueUrl}/comments` },
        review_comments: { href: `${api}/comments` },
        review_comment: { href: reviewCommentUrl },
        commits: { href: `${api}/commits` },
        statuses: { href: statusesUrl },
      },
      author_association: this.association(repo, issue.user),
      auto_merge: null,
      draft: pull.draft,
      merged: pull.merged,
      mergeable,
      rebaseable: mergeable,
      mergeable_state: mergeable === null ? 'unknown' : mergeable ? 'clean' : 'dirty',
      merged_by: pull.mergedBy === null ? null : this.userJson(pull.mergedBy),
      comments: this.commentsOn(repo, issue.number).length,
      review_comments: 0,
      maintainer_can_modify: false,
      commits,
      additions: 0,
      deletions: 0,
      changed_files: changedFiles,
    };
  }

  commentJson(repo: RepoState, comment: CommentState): Json {
    const kind = this.issue(repo, comment.issueNumber).pull ? 'pull' : 'issues';
    return {
      id: comment.id,
      node_id: nodeId('IssueComment', comment.id),
      url: `${this.repoApiUrl(repo)}/issues/comments/${comment.id}`,
      html_url: `${this.repoHtmlUrl(repo)}/${kind}/${comment.issueNumber}#issuecomment-${comment.id}`,
      issue_url: `${this.repoApiUrl(repo)}/issues/${comment.issueNumber}`,
      body: comment.body,
      user: this.userJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      author_association: this.association(repo, comment.user),
      performed_via_github_app: comment.viaApp ? this.appJson() : null,
    };
  }

  commitJson(repo: RepoState, commit: GitCommit): Json {
    const api = this.repoApiUrl(repo);
    const link = (sha: string) => ({ sha, url: `${api}/git/commits/${sha}`, html_url: `${this.repoHtmlUrl(repo)}/commit/${sha}` });
    return {
      ...link(commit.sha),
      node_id: nodeId('Commit', commit.sha),
      author: commit.author,
      committer: commit.committer,
      message: commit.message,
      tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
      parents: commit.parents.map(link),
      verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
    };
  }

  treeJson(repo: RepoState, sha: string): Json {
    const api = this.repoApiUrl(repo);
    const tree = repo.trees.get(sha) as Tree;
    const entry = ([path, blob]: [string, string]) => {
      const size = repo.blobs.get(blob)?.length ?? 0;
      return { path, mode: '100644', type: 'blob', sha: blob, size, url: `${api}/git/blobs/${blob}` };
    };
    return { sha, url: `${api}/git/trees/${sha}`, truncated: false, tree: [...tree].map(entry) };
  }

  refJson(repo: RepoState, ref: string): Json {
    const sha = repo.refs.get(ref) as string;
    const api = this.repoApiUrl(repo);
    return {
      ref,
      node_id: nodeId('Ref', `${repo.id}:${ref}`),
      url: `${api}/git/${ref}`,
      object: { type: 'commit', sha, url: `${api}/git/commits/${sha}` },
    };
  }

  checkRunJson(repo: RepoState, run: CheckRunState): Json {
    const api = this.repoApiUrl(repo);
    const repoRef = { id: repo.id, url: api, name: repo.name };
    const pulls = [...repo.issues.values()].filter(
      (issue): issue is PullIssue => issue.state === 'open' && issue.pull?.headSha === run.headSha,
    );
    return {
      id: run.id,
      node_id: nodeId('CheckRun', run.id),
      head_sha: run.headSha,
      external_id: run.externalId,
      url: `${api}/check-runs/${run.id}`,
      html_url: `${this.repoHtmlUrl(repo)}/runs/${run.id}`,
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt,
      completed_at: run.completedAt,
      output: { ...run.output, annotations_count: 0, annotations_url: `${api}/check-runs/${run.id}/annotations` },
      name: run.name,
      check_suite: { id: run.checkSuiteId },
      app: this.appJson(),
      pull_requests: pulls.map(({ number, pull }) => ({
        id: pull.id,
        number,
        url: `${api}/pulls/${number}`,
        head: { ref: pull.head, sha: pull.headSha, repo: repoRef },
        base: { ref: pull.base, sha: this.baseShaOf(repo, pull), repo: repoRef },
      })),
    };
  }

  // ---- the test-side API ---------------------------------------------------------------------------------

  testApi(): FakeReposApi {
    const { defaultUser, app } = this.options;
    /** Issues the test names must exist: say so plainly rather than answer 404. */
    const issueIn = (fullName: string, number: number) => {
      const repo = this.repo(fullName);
      const issue = repo.issues.get(number);
      if (!issue) throw new Error(`${fullName} has no issue or pull request #${number}`);
      return { repo, issue };
    };
    const pullIn = (fullName: string, number: number) => {
      const { repo, issue } = issueIn(fullName, number);
      if (!issue.pull) throw new Error(`${fullName}#${number} is an issue, not a pull request`);
      return { repo, issue: issue as PullIssue };
    };
    return {
      app: { ...app, botLogin: this.botLogin },
      createRepo: (fullName, options = {}) => this.createRepo(fullName, options),
      createIssue: (fullName, { title, body, labels = [], user = defaultUser }) => {
        const repo = this.repo(fullName);
        const issue = this.newIssue(repo, { title, body, user });
        this.addLabels(repo, issue, labels);
        return issue.number;
      },
      editIssue: (fullName, number, edit) => this.applyEdit(issueIn(fullName, number).issue, edit),
      createComment: (fullName, number, body, username) => {
        const { repo, issue } = issueIn(fullName, number);
        return this.addComment(repo, issue, body, { login: username, viaApp: false }).id;
      },
      setRole: (fullName, username, role) => void this.repo(fullName).roles.set(username.toLowerCase(), role),
      addTeamMember: (org, teamSlug, username, role = 'member') => this.addTeamMember(org, teamSlug, username, role),
      pushCommit: (fullName, branch, files, { author = defaultUser, message } = {}) => {
        const repo = this.repo(fullName);
        const parent = repo.refs.get(`refs/heads/${branch}`) ?? (repo.refs.get(`refs/heads/${repo.defaultBranch}`) as string);
        const base = this.treeOfCommit(repo, parent);
        const sha = this.commitFiles(repo, [parent], base, files, message ?? `Update ${Object.keys(files).join(', ')}`, author);
        this.moveRef(repo, `refs/heads/${branch}`, sha, author);
        return sha;
      },
      readFile: (fullName, ref, path) => this.readFile(this.repo(fullName), ref, path)?.toString('utf8'),
      branchSha: (fullName, branch) => this.repo(fullName).refs.get(`refs/heads/${branch}`),
      repository: (fullName) => this.repoJson(this.repo(fullName)),
      issue: (fullName, number) => {
        const { repo, issue } = issueIn(fullName, number);
        return this.issueJson(repo, issue);
      },
      pull: (fullName, number) => {
        const { repo, issue } = pullIn(fullName, number);
        return this.pullJson(repo, issue);
      },
      comment: (fullName, commentId) => {
        const repo = this.repo(fullName);
        return this.commentJson(repo, this.comment(repo, commentId));
      },
      user: (login) => this.userJson(login),
      lastIssueChanges: (fullName, number) => structuredClone(issueIn(fullName, number).issue.lastChanges),
      previousHead: (fullName, number) => pullIn(fullName, number).issue.pull.previousHeadSha,
      comments: (fullName, number) =>
        this.commentsOn(issueIn(fullName, number).repo, number).map(({ id, user, body, viaApp }) => ({
          id,
          author: user,
          body,
          viaApp,
        })),
      labels: (fullName, number) => [...issueIn(fullName, number).issue.labels],
      checkRuns: (fullName, headSha) => {
        const repo = this.repo(fullName);
        return this.latestCheckRuns(repo, headSha).map((run) => this.checkRunJson(repo, run));
      },
      mergedPulls: this.mergedPulls,
    };
  }
}

// ---- routes ----------------------------------------------------------------------------------------------

type RepoHandler = (repo: RepoState, params: string[], body: Json, request: RouteRequest) => Reply | undefined;

/** One page of `items` per `per_page`/`page`, with GitHub's `link` header when there are more. */
function paginate(items: unknown[], request: RouteRequest, apiUrl: string): Reply {
  const perPage = Math.min(100, Math.max(1, Number(request.query.get('per_page')) || 30));
  const page = Math.max(1, Number(request.query.get('page')) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const pageUrl = (n: number) => {
    const query = new URLSearchParams(request.query);
    query.set('per_page', String(perPage));
    query.set('page', String(n));
    return `<${apiUrl}${request.path}?${query}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`);
  if (page > 1) links.push(`${pageUrl(1)}; rel="first"`, `${pageUrl(Math.min(page - 1, last))}; rel="prev"`);
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length > 0 ? { link: links.join(', ') } : {},
  };
}

/** Label names from `{labels: [...]}` or a bare array, of names or `{name}` objects. */
function labelNames(body: unknown): string[] {
  const list: unknown[] = Array.isArray(body) ? body : isObject(body) && Array.isArray(body.labels) ? body.labels : [];
  return list.map((label) => (isObject(label) ? String(label.name) : String(label)));
}

function requiredBody(resource: string, body: Json): string {
  if (typeof body.body !== 'string' || body.body === '') {
    throw validationFailed(resource, { field: 'body', code: 'missing_field' });
  }
  tooLong(resource, 'body', body.body);
  return body.body;
}

/** The REST routes of the repository model, the App and organisation teams. */
export function repoRoutes(model: RepoModel, apiUrl: string): Route[] {
  const routes: Route[] = [];
  const ok = (body: unknown, status = 200): Reply => ({ status, body });
  const noContent: Reply = { status: 204, body: undefined };
  const actorOf = (request: RouteRequest) => model.actor(request.headers);
  /** `heads/main` or `refs/heads/main` → `refs/heads/main`. */
  const fullRef = (ref: string) => (ref.startsWith('refs/') ? ref : `refs/${ref}`);
  /** `tail` follows /repos/{owner}/{repo}; a repository the test did not create goes unhandled. */
  const onRepo = (method: string, tail: string, handle: RepoHandler) =>
    routes.push({
      method,
      pattern: new RegExp(`^/repos/([^/]+)/([^/]+)${tail}$`),
      handle(params, body, request) {
        const repo = model.findRepo(params[0], params[1]);
        if (!repo) return undefined;
        try {
          return handle(repo, params.slice(2), isObject(body) ? body : {}, request);
        } catch (error) {
          if (error instanceof ApiError) return apiError(error.status, error.message, error.errors);
          throw error;
        }
      },
    });

  routes.push({
    method: 'GET',
    pattern: /^\/app$/,
    handle: (_params, _body, request) =>
      /^bearer\s/i.test(request.headers.authorization ?? '') ? ok(model.appJson()) : apiError(401, 'A JSON web token could not be decoded'),
  });

  routes.push({
    method: 'GET',
    pattern: /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/,
    handle([org, team, username]) {
      const role = model.teamRole(org, team, username);
      if (!role) return apiError(404, 'Not Found');
      return ok({ url: `${apiUrl}/orgs/${org}/teams/${team}/memberships/${username}`, role, state: 'active' });
    },
  });

  onRepo('GET', '', (repo) => ok(model.repoJson(repo)));

  onRepo('GET', '/collaborators/([^/]+)/permission', (repo, [username]) => {
    const role = model.roleOf(repo, username) ?? 'read';
    const rank = ROLES_ASCENDING.indexOf(role);
    const permissions = { pull: true, triage: rank >= 1, push: rank >= 2, maintain: rank >= 3, admin: rank >= 4 };
    const user = { ...model.userJson(username), permissions, role_name: role };
    return ok({ permission: PERMISSION_OF_ROLE[role], role_name: role, user });
  });

  // ---- git data

  onRepo('GET', '/git/ref/(.+)', (repo, [ref]) => {
    if (!repo.refs.has(fullRef(ref))) throw new ApiError(404, 'Not Found');
    return ok(model.refJson(repo, fullRef(ref)));
  });

  onRepo('POST', '/git/refs', (repo, _params, { ref, sha }, request) => {
    if (typeof ref !== 'string' || !/^refs\/[^/]+\/.+/.test(ref)) throw new ApiError(422, 'Reference name is invalid');
    if (typeof sha !== 'string' || !repo.commits.has(sha)) throw new ApiError(422, 'Object does not exist');
    if (repo.refs.has(ref)) throw new ApiError(422, 'Reference already exists');
    model.moveRef(repo, ref, sha, actorOf(request).login);
    return ok(model.refJson(repo, ref), 201);
  });

  onRepo('PATCH', '/git/refs/(.+)', (repo, [ref], { sha, force }, request) => {
    const current = repo.refs.get(fullRef(ref));
    if (!current) throw new ApiError(422, 'Reference does not exist');
    if (typeof sha !== 'string' || !repo.commits.has(sha)) throw new ApiError(422, 'Object does not exist');
    if (force !== true && !model.ancestors(repo, sha).includes(current)) {
      throw new ApiError(422, 'Update is not a fast forward');
    }
    model.moveRef(repo, fullRef(ref), sha, actorOf(request).login);
    return ok(model.refJson(repo, fullRef(ref)));
  });

  onRepo('DELETE', '/git/refs/(.+)', (repo, [ref], _body, request) => {
    if (!repo.refs.has(fullRef(ref))) throw new ApiError(422, 'Reference does not exist');
    model.moveRef(repo, fullRef(ref), undefined, actorOf(request).login);
    return noContent;
  });

  onRepo('POST', '/git/blobs', (repo, _params, { content, encoding = 'utf-8' }) => {
    if (typeof content !== 'string') throw new ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.');
    if (encoding !== 'utf-8' && encoding !== 'base64') throw new ApiError(422, `Unsupported encoding: ${encoding}`);
    const sha = model.writeBlob(repo, Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8'));
    return ok({ sha, url: `${model.repoApiUrl(repo)}/git/blobs/${sha}` }, 201);
  });

  onRepo('POST', '/git/trees', (repo, _params, body) => {
    if (!Array.isArray(body.tree)) throw new ApiError(422, 'Invalid request.\n\n"tree" wasn\'t supplied.');
    const base = body.base_tree === undefined ? new Map<string, string>() : repo.trees.get(String(body.base_tree));
    if (!base) throw new ApiError(422, 'base_tree is not a valid tree oid');
    const tree = new Map(base);
    for (const entry of body.tree as unknown[]) {
      if (!isObject(entry) || typeof entry.path !== 'string' || entry.path === '') {
        throw validationFailed('Tree', { field: 'path', code: 'missing_field' });
      }
      const { path, sha, content, type } = entry;
      if (content !== undefined && sha !== undefined) {
        throw new ApiError(422, 'Must supply either tree.sha or tree.content, not both');
      }
      if (typeof content === 'string') {
        tree.set(path, model.writeBlob(repo, Buffer.from(content)));
      } else if (sha === null) {
        // Deletes the file, or everything under the directory.
        for (const existing of [...tree.keys()]) {
          if (existing === path || existing.startsWith(`${path}/`)) tree.delete(existing);
        }
      } else if (type === 'tree' && repo.trees.has(sha)) {
        for (const [subPath, blob] of repo.trees.get(sha) as Tree) tree.set(`${path}/${subPath}`, blob);
      } else if (typeof sha === 'string' && repo.blobs.has(sha)) {
        tree.set(path, sha);
      } else {
        throw new ApiError(422, `GitRPC::BadObjectState: tree.sha ${String(sha)} is not a valid ${String(type ?? 'blob')}`);
      }
    }
    return ok(model.treeJson(repo, model.writeTree(repo, tree)), 201);
  });

  onRepo('POST', '/git/commits', (repo, _params, body, request) => {
    const { message, tree, parents = [] } = body;
    if (typeof message !== 'string') throw new ApiError(422, 'Invalid request.\n\n"message" wasn\'t supplied.');
    if (typeof tree !== 'string' || !repo.trees.has(tree)) throw new ApiError(422, 'Tree SHA does not exist');
    if (!Array.isArray(parents) || parents.some((parent) => typeof parent !== 'string' || !repo.commits.has(parent))) {
      throw new ApiError(422, 'Parent SHA does not exist or is not a commit object');
    }
    const date = now();
    const identity = (given: unknown): GitIdentity =>
      isObject(given)
        ? { name: String(given.name), email: String(given.email), date: typeof given.date === 'string' ? given.date : date }
        : model.identity(actorOf(request).login, date);
    const author = identity(body.author);
    const committer = body.committer === undefined ? author : identity(body.committer);
    const sha = model.writeCommit(repo, { tree, parents, message, author, committer });
    return ok(model.commitJson(repo, repo.commits.get(sha) as GitCommit), 201);
  });

  onRepo('GET', '/git/commits/([0-9a-f]{40})', (repo, [sha]) => {
    const commit = repo.commits.get(sha);
    if (!commit) throw new ApiError(404, 'Not Found');
    return ok(model.commitJson(repo, commit));
  });

  onRepo('GET', '/contents/(.+)', (repo, [rawPath], _body, request) => {
    const path = rawPath.replace(/^\/+|\/+$/g, '');
    const ref = request.query.get('ref') || repo.defaultBranch;
    const commit = model.resolveCommit(repo, ref);
    if (!commit) throw new ApiError(404, `No commit found for the ref ${ref}`);
    const tree = model.treeOfCommit(repo, commit);
    const sha = tree.get(path);
    if (sha === undefined) {
      // A directory answers a listing on GitHub; nothing here reads one, so it goes unhandled.
      const isDirectory = [...tree.keys()].some((file) => file.startsWith(`${path}/`));
      return isDirectory ? undefined : apiError(404, 'Not Found');
    }
    const content = repo.blobs.get(sha) as Buffer;
    const self = `${model.repoApiUrl(repo)}/contents/${path}?ref=${encodeURIComponent(ref)}`;
    const git = `${model.repoApiUrl(repo)}/git/blobs/${sha}`;
    const html = `${model.repoHtmlUrl(repo)}/blob/${ref}/${path}`;
    return ok({
      type: 'file',
      encoding: 'base64',
      size: content.length,
      name: path.split('/').pop(),
      path,
      // GitHub wraps the base64 text at 60 characters.
      content: content.toString('base64').replace(/.{60}/g, '$&\n'),
      sha,
      url: self,
      git_url: git,
      html_url: html,
      download_url: `${model.repoHtmlUrl(repo)}/raw/${ref}/${path}`,
      _links: { self, git, html },
    });
  });

  // What `head` changes since its merge base with `base`, and its commits (oldest first), as GitHub compares.
  onRepo('GET', '/compare/(.+?)\\.\\.\\.(.+)', (repo, [baseRef, headRef], _body, request) => {
    const [base, head] = [model.resolveCommit(repo, baseRef), model.resolveCommit(repo, headRef)];
    if (!base || !head) throw new ApiError(404, 'Not Found');
    const mergeBase = model.mergeBase(repo, base, head);
    if (!mergeBase) throw new ApiError(404, `No common ancestor between ${baseRef} and ${headRef}.`);
    const inBase = new Set(model.ancestors(repo, base));
    const ahead = model.ancestors(repo, head).filter((sha) => !inBase.has(sha));
    const behind = model.ancestors(repo, base).filter((sha) => !model.ancestors(repo, head).includes(sha));
    const [from, to] = [model.treeOfCommit(repo, mergeBase), model.treeOfCommit(repo, head)];
    const api = model.repoApiUrl(repo);
    const html = model.repoHtmlUrl(repo);
    const files = [...new Set([...from.keys(), ...to.keys()])]
      .filter((path) => from.get(path) !== to.get(path))
      .sort()
      .map((path) => {
        const sha = to.get(path) ?? (from.get(path) as string);
        const status = !from.has(path) ? 'added' : !to.has(path) ? 'removed' : 'modified';
        const ref = to.has(path) ? head : mergeBase;
        return {
          sha,
          filename: path,
          status,
          additions: 0,
          deletions: 0,
          changes: 0,
          blob_url: `${html}/blob/${ref}/${path}`,
          raw_url: `${html}/raw/${ref}/${path}`,
          contents_url: `${api}/contents/${path}?ref=${ref}`,
        };
      });
    /** A commit as the compare lists it: the git commit, and the users GitHub links its identities to. */
    const userOf = (identity: GitIdentity) => {
      const login = /^\d+\+(.+)@users\.noreply\.github\.com$/.exec(identity.email)?.[1];
      return login ? model.userJson(login) : null;
    };
    const commitOf = (sha: string) => {
      const commit = repo.commits.get(sha) as GitCommit;
      const git = model.commitJson(repo, commit);
      return {
        url: `${api}/commits/${sha}`,
        sha,
        node_id: git.node_id,
        html_url: git.html_url,
        comments_url: `${api}/commits/${sha}/comments`,
        commit: {
          url: git.url,
          author: commit.author,
          committer: commit.committer,
          message: commit.message,
          tree: git.tree,
          comment_count: 0,
        },
        author: userOf(commit.author),
        committer: userOf(commit.committer),
        parents: git.parents,
      };
    };
    const basehead = `${baseRef}...${headRef}`;
    const status = ahead.length === 0 ? (behind.length === 0 ? 'identical' : 'behind') : behind.length === 0 ? 'ahead' : 'diverged';
    const perPage = Math.min(100, Math.max(1, Number(request.query.get('per_page')) || 250));
    return ok({
      url: `${api}/compare/${basehead}`,
      html_url: `${html}/compare/${basehead}`,
      permalink_url: `${html}/compare/${base}...${head}`,
      diff_url: `${html}/compare/${basehead}.diff`,
      patch_url: `${html}/compare/${basehead}.patch`,
      base_commit: commitOf(base),
      merge_base_commit: commitOf(mergeBase),
      status,
      ahead_by: ahead.length,
      behind_by: behind.length,
      total_commits: ahead.length,
      commits: ahead.reverse().slice(0, perPage).map(commitOf),
      files,
    });
  });

  // ---- pull requests

  onRepo('POST', '/pulls', (repo, _params, body, request) => {
    const { head, base, title, draft } = body;
    const [headOwner, headBranch] = typeof head === 'string' && head.includes(':') ? head.split(':', 2) : [repo.owner, head];
    const headSha = repo.refs.get(`refs/heads/${headBranch}`);
    if (headOwner.toLowerCase() !== repo.owner.toLowerCase() || !headSha) {
      throw validationFailed('PullRequest', { field: 'head' });
    }
    const baseSha = repo.refs.get(`refs/heads/${base}`);
    if (!baseSha) throw validationFailed('PullRequest', { field: 'base' });
    if (typeof title !== 'string' || title === '') throw validationFailed('Issue', { field: 'title', code: 'missing_field' });
    tooLong('Issue', 'body', body.body);
    const existing = [...repo.issues.values()].some(
      (issue) => issue.state === 'open' && issue.pull?.head === headBranch && issue.pull?.base === base,
    );
    if (existing) {
      throw validationFailed('PullRequest', { message: `A pull request already exists for ${repo.owner}:${headBranch}.` });
    }
    if (model.ancestors(repo, baseSha).includes(headSha)) {
      throw validationFailed('PullRequest', { message: `No commits between ${base} and ${headBranch}` });
    }
    const pull: PullState = {
      id: model.nextId(),
      head: headBranch,
      base,
      headSha,
      previousHeadSha: undefined,
      closedBaseSha: undefined,
      draft: draft === true,
      merged: false,
      mergedAt: null,
      mergedBy: null,
      mergeCommitSha: null,
    };
    const user = actorOf(request).login;
    const issue = model.newIssue(repo, { title, body: typeof body.body === 'string' ? body.body : null, user, pull });
    return ok(model.pullJson(repo, issue as PullIssue), 201);
  });

  onRepo('GET', '/pulls', (repo, _params, _body, request) => {
    const state = request.query.get('state') ?? 'open';
    const head = request.query.get('head');
    const base = request.query.get('base');
    const [headOwner, headBranch] = head?.includes(':') ? head.split(':', 2) : [repo.owner, head];
    const pulls = [...repo.issues.values()]
      .filter((issue): issue is PullIssue => issue.pull !== undefined)
      .filter((issue) => state === 'all' || issue.state === state)
      .filter((issue) => !headBranch || (issue.pull.head === headBranch && headOwner.toLowerCase() === repo.owner.toLowerCase()))
      .filter((issue) => !base || issue.pull.base === base)
      .sort((a, b) => b.number - a.number);
    return paginate(
      pulls.map((issue) => model.pullJson(repo, issue)),
      request,
      apiUrl,
    );
  });

  onRepo('GET', '/pulls/(\\d+)', (repo, [number]) => ok(model.pullJson(repo, model.pull(repo, Number(number)))));

  onRepo('PATCH', '/pulls/(\\d+)', (repo, [number], body, request) => {
    const issue = model.pull(repo, Number(number));
    tooLong('Issue', 'body', body.body);
    if (body.state === 'open' && issue.state === 'closed') {
      if (issue.pull.merged) throw validationFailed('PullRequest', { message: 'Cannot reopen a merged pull request' });
      if (!repo.refs.has(`refs/heads/${issue.pull.head}`)) {
        throw validationFailed('PullRequest', { message: 'Cannot reopen a pull request whose head branch was deleted' });
      }
    }
    if (typeof body.base === 'string') {
      if (!repo.refs.has(`refs/heads/${body.base}`)) throw validationFailed('PullRequest', { field: 'base' });
      issue.pull.base = body.base;
    }
    model.applyEdit(issue, body);
    if (body.state === 'open' || body.state === 'closed') {
      model.setState(repo, issue, body.state, null, actorOf(request).login);
    }
    return ok(model.pullJson(repo, issue));
  });

  onRepo('PUT', '/pulls/(\\d+)/merge', (repo, [number], body, request) =>
    ok(model.merge(repo, model.pull(repo, Number(number)), body, actorOf(request))),
  );

  // ---- issues, comments, labels

  onRepo('GET', '/issues/(\\d+)', (repo, [number]) => ok(model.issueJson(repo, model.issue(repo, Number(number)))));

  onRepo('PATCH', '/issues/(\\d+)', (repo, [number], body, request) => {
    const issue = model.issue(repo, Number(number));
    tooLong('Issue', 'body', body.body);
    if (body.state !== undefined && body.state !== 'open' && body.state !== 'closed') {
      throw validationFailed('Issue', { field: 'state' });
    }
    model.applyEdit(issue, body);
    if (body.labels !== undefined) model.setLabels(repo, issue, labelNames(body));
    const reason = typeof body.state_reason === 'string' ? body.state_reason : null;
    if (body.state !== undefined) model.setState(repo, issue, body.state, reason, actorOf(request).login);
    return ok(model.issueJson(repo, issue));
  });

  onRepo('GET', '/issues/(\\d+)/comments', (repo, [number], _body, request) => {
    const comments = model.commentsOn(repo, model.issue(repo, Number(number)).number);
    return paginate(
      comments.map((comment) => model.commentJson(repo, comment)),
      request,
      apiUrl,
    );
  });

  onRepo('POST', '/issues/(\\d+)/comments', (repo, [number], body, request) => {
    const issue = model.issue(repo, Number(number));
    const comment = model.addComment(repo, issue, requiredBody('IssueComment', body), actorOf(request));
    return ok(model.commentJson(repo, comment), 201);
  });

  onRepo('GET', '/issues/comments/(\\d+)', (repo, [id]) => ok(model.commentJson(repo, model.comment(repo, Number(id)))));

  onRepo('PATCH', '/issues/comments/(\\d+)', (repo, [id], body) => {
    const comment = model.comment(repo, Number(id));
    comment.body = requiredBody('IssueComment', body);
    comment.updatedAt = now();
    return ok(model.commentJson(repo, comment));
  });

  onRepo('DELETE', '/issues/comments/(\\d+)', (repo, [id]) => {
    repo.comments.delete(model.comment(repo, Number(id)).id);
    return noContent;
  });

  onRepo('POST', '/issues/(\\d+)/labels', (repo, [number], _body, request) => {
    const issue = model.issue(repo, Number(number));
    model.addLabels(repo, issue, labelNames(request.body));
    return ok(issue.labels.map((name) => model.labelJson(repo, name)));
  });

  onRepo('DELETE', '/issues/(\\d+)/labels/(.+)', (repo, [number, name]) => {
    const issue = model.issue(repo, Number(number));
    const index = issue.labels.findIndex((label) => label.toLowerCase() === name.toLowerCase());
    if (index < 0) throw new ApiError(404, 'Label does not exist');
    issue.labels.splice(index, 1);
    issue.updatedAt = now();
    return ok(issue.labels.map((label) => model.labelJson(repo, label)));
  });

  // ---- check runs

  /** Applies a create or update body as GitHub does: a conclusion completes the run; completing needs one. */
  const applyCheckFields = (run: CheckRunState, body: Json) => {
    for (const [field, key] of [
      ['name', 'name'],
      ['details_url', 'detailsUrl'],
      ['external_id', 'externalId'],
      ['started_at', 'startedAt'],
      ['status', 'status'],
    ] as const) {
      if (typeof body[field] === 'string') run[key] = body[field];
    }
    if (typeof body.conclusion === 'string') [run.conclusion, run.status] = [body.conclusion, 'completed'];
    if (run.status === 'completed' && run.conclusion === null) {
      throw new ApiError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.');
    }
    if (run.status === 'completed') run.completedAt = body.completed_at ?? run.completedAt ?? now();
    if (body.output !== undefined) {
      const { output } = body;
      if (!isObject(output) || typeof output.title !== 'string' || typeof output.summary !== 'string') {
        throw new ApiError(422, 'Invalid request.\n\n"title" and "summary" are required in "output".');
      }
      tooLong('CheckRun', 'output.summary', output.summary, MAX_CHECK_OUTPUT_CHARACTERS);
      tooLong('CheckRun', 'output.text', output.text, MAX_CHECK_OUTPUT_CHARACTERS);
      run.output = { title: output.title, summary: output.summary, text: typeof output.text === 'string' ? output.text : null };
    }
  };

  const requireApp = (request: RouteRequest) => {
    if (!actorOf(request).viaApp) throw new ApiError(403, 'You must authenticate via a GitHub App.');
  };

  onRepo('POST', '/check-runs', (repo, _params, body, request) => {
    requireApp(request);
    const { name, head_sha: headSha } = body;
    if (typeof name !== 'string' || name === '') throw new ApiError(422, 'Invalid request.\n\n"name" wasn\'t supplied.');
    if (typeof headSha !== 'string' || !repo.commits.has(headSha)) {
      throw new ApiError(422, `No commit found for SHA: ${String(headSha)}`);
    }
    if (!repo.checkSuites.has(headSha)) repo.checkSuites.set(headSha, model.nextId());
    const run: CheckRunState = {
      id: model.nextId(),
      name,
      headSha,
      status: 'queued',
      conclusion: null,
      startedAt: now(),
      completedAt: null,
      detailsUrl: null,
      externalId: null,
      output: { title: null, summary: null, text: null },
      checkSuiteId: repo.checkSuites.get(headSha) as number,
    };
    applyCheckFields(run, body);
    repo.checkRuns.set(run.id, run);
    return ok(model.checkRunJson(repo, run), 201);
  });

  onRepo('PATCH', '/check-runs/(\\d+)', (repo, [id], body, request) => {
    requireApp(request);
    const run = repo.checkRuns.get(Number(id));
    if (!run) throw new ApiError(404, 'Not Found');
    // Validated on a copy, so a refused update changes nothing.
    const updated = { ...run };
    applyCheckFields(updated, body);
    Object.assign(run, updated);
    return ok(model.checkRunJson(repo, run));
  });

  return routes;
}
