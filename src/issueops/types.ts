import type { Logger } from 'probot';
import type { SynthSettings } from '../terraform/settings.js';
import type { FleetRegistry } from '../fleets/registry.js';
import type { FleetSpec } from '../fleets/spec.js';
import type { Sleep } from '../retry.js';
import type { IssueOpsStore, Store } from '../store/types.js';
import type { IssueForm } from './form.js';
import type { IssueOpsSettings } from './settings.js';
import type { FleetWorkspace } from './workspace.js';

/**
 * The IssueOps seam: the GitHub calls IssueOps makes, what it is given, and the parts of the webhook
 * payloads it reads. github.ts implements IssueOpsGitHub over Octokit; tests may use an in-memory one.
 */

export interface PullRequestInfo {
  number: number;
  state: 'open' | 'closed';
  merged: boolean;
  headSha: string;
  headRef: string;
  baseRef: string;
  htmlUrl: string;
  authorLogin: string;
}

/** What a head changes against a base branch: GitHub's compare (`base...head`, i.e. since their merge base). */
export interface Comparison {
  /** Every path added, changed or removed, both names of a rename; at most 300 (GitHub lists no more). */
  files: string[];
  /** The GitHub logins of the head's commits' authors and committers, where GitHub links them to a user. */
  authors: string[];
}

/** GitHub, for one installation and the IssueOps repository. */
export interface IssueOpsGitHub {
  /** `owner/name` of the repository. */
  readonly fullName: string;
  defaultBranch(): Promise<string>;
  /** The branch's head, or undefined when there is no such branch. */
  branchSha(branch: string): Promise<string | undefined>;
  /** One commit on `parent` that writes (string) or deletes (null) the given paths. */
  createCommit(parent: string, files: Record<string, string | null>, message: string): Promise<string>;
  /** Points the branch at `sha`, creating it or moving it (even backwards: fleetbot owns its branches). */
  setBranch(branch: string, sha: string): Promise<void>;
  /** A file's text at a commit, or undefined when the commit has no such file. */
  readFile(path: string, sha: string): Promise<string | undefined>;
  /** `GET /repos/{owner}/{repo}/compare/{base}...{head}`. */
  compare(base: string, head: string): Promise<Comparison>;
  openPull(head: string, base: string, title: string, body: string): Promise<PullRequestInfo>;
  updatePull(number: number, changes: { title?: string; body?: string; state?: 'open' | 'closed' }): Promise<void>;
  getPull(number: number): Promise<PullRequestInfo>;
  /** Merges only if the head is still `sha`. */
  merge(number: number, sha: string, title: string): Promise<void>;
  closeIssue(number: number, reason: 'completed' | 'not_planned'): Promise<void>;
  comment(number: number, body: string): Promise<void>;
  /** Creates or updates in place the one comment of the App's own that carries `marker`. */
  upsertComment(number: number, marker: string, body: string): Promise<void>;
  addLabel(number: number, label: string): Promise<void>;
  /** Removes the label; a label the issue does not have is no error. */
  removeLabel(number: number, label: string): Promise<void>;
  /** The user's repository role (`role_name`: admin, maintain, write, triage, read, or a custom role). */
  roleOf(username: string): Promise<string>;
  isTeamMember(org: string, teamSlug: string, username: string): Promise<boolean>;
  /** Starts a check run on the head, returning its id for `completeCheck`. */
  startCheck(headSha: string, name: string, title: string): Promise<number>;
  completeCheck(id: number, conclusion: 'success' | 'failure' | 'neutral', title: string, summary: string): Promise<void>;
}

/** The fleet's Terraform JSON (cdktf/synth.ts), passed in so that the job path never loads CDKTF. */
export type SynthesizeFleet = (spec: FleetSpec, settings: SynthSettings) => string;

export interface IssueOpsDeps {
  settings: IssueOpsSettings;
  store: IssueOpsStore;
  jobs: Pick<Store, 'abandonWaitingJobs' | 'fleetCounts'>;
  fleets: FleetRegistry;
  workspace: Pick<FleetWorkspace, 'plan' | 'apply' | 'discardPlans'>;
  forms: { request: IssueForm; delete: IssueForm };
  synthesize: SynthesizeFleet;
  /** The app's secret values, redacted from failure comments and plans (config.ts's `secretValues`). */
  secrets: readonly string[];
  /** A GitHub client for the installation, on the IssueOps repository. */
  github(installationId: number): Promise<IssueOpsGitHub>;
  log: Logger;
  now?: () => number;
  sleep?: Sleep;
  /** How often a draining fleet's busy runners are counted. */
  drainPollMs?: number;
  /**
   * This replica, as the holder of request locks, and how long a lock outlives its holder's last renewal
   * (FLEETBOT_LEASE_SECONDS). Default: a holder of this instance's own, and 15 seconds.
   */
  requestLock?: RequestLockSettings;
}

export interface RequestLockSettings {
  holder: string;
  ttlMs: number;
}

/** What every handler works with: the dependencies, with the clock and the synth settings settled. */
export interface IssueOpsContext extends Omit<IssueOpsDeps, 'now' | 'sleep' | 'requestLock'> {
  now: () => number;
  sleep: Sleep;
  requestLock: RequestLockSettings;
  synthSettings: SynthSettings;
}

/** The parts of the webhook payloads IssueOps reads. */
export interface User {
  login: string;
  type?: string;
}
interface Repository {
  full_name: string;
}
export interface IssuesPayload {
  action: string;
  issue: {
    number: number;
    state?: string;
    body?: string | null;
    user: User | null;
    labels?: ({ name?: string } | string | null)[];
    pull_request?: unknown;
  };
  repository: Repository;
  installation?: { id: number };
  /** Who did it: for `edited`, whoever edited the issue. */
  sender?: User;
}
export interface PullRequestPayload {
  action: string;
  pull_request: { number: number; merged?: boolean | null; head: { sha: string }; merged_by?: User | null };
  repository: Repository;
  installation?: { id: number };
  /** Who did it: for `synchronize`, whoever pushed. */
  sender?: User;
}
export interface IssueCommentPayload {
  action: string;
  issue: { number: number; pull_request?: unknown };
  comment: { body: string; user: User | null; created_at: string };
  repository: Repository;
  installation?: { id: number };
}
