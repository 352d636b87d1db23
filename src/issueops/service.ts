import type { Logger } from 'probot';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { liveFleetSpec } from '../fleets/live-spec.js';
import type { SynthSettings } from '../terraform/settings.js';
import type { FleetRegistry } from '../fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../fleets/spec.js';
import { SerialLanes } from '../serial-lanes.js';
import { errorFields, sleep as realSleep, type Sleep } from '../retry.js';
import type { FleetRequestRecord, IssueOpsStore, RequestKind, Store } from '../store/types.js';
import { TerraformError } from '../terraform/types.js';
import { redactSecrets } from '../terraform/redact.js';
import { checkApprovalRequest, describeApprovers, isApprover } from './approval.js';
import { parseCommand, type Command } from './commands.js';
import { parseIssueBody, type FieldProblem, type IssueForm } from './form.js';
import type { IssueOpsGitHub } from './github.js';
import {
  acceptedRequestComment,
  alreadyAppliedComment,
  appliedComment,
  applyFailedComment,
  fleetDeletedComment,
  fleetReadyComment,
  failureComment,
  fleetSummary,
  invalidRequestComment,
  MARKERS,
  planComment,
  planFailedComment,
  pullRequestBody,
  refusalComment,
} from './messages.js';
import { validateDeleteRequest, validateFleetRequest } from './request.js';
import type { IssueOpsSettings } from './settings.js';
import type { FleetWorkspace } from './workspace.js';
import { formatZodIssues } from '../zod-issues.js';

/**
 * IssueOps, top to bottom: a request issue becomes a validated FleetSpec, a pull request with the
 * synthesized Terraform, a saved plan on the PR head, and (on an allowed `/approve`) exactly that plan
 * applied, the PR merged and the fleet serving jobs. Handlers answer the webhook at once; the work for
 * one request runs in its own serial lane, so edits, pushes and approvals of a request never overlap.
 */

export const LABELS = { request: 'fleet-request', delete: 'fleet-delete', invalid: 'fleet-invalid' } as const;
export const CHECK_NAME = 'fleetbot/plan';

export interface IssueOpsDeps {
  settings: IssueOpsSettings;
  store: IssueOpsStore;
  jobs: Pick<Store, 'abandonWaitingJobs' | 'fleetCounts'>;
  fleets: FleetRegistry;
  workspace: FleetWorkspace;
  forms: { request: IssueForm; delete: IssueForm };
  /** The fleet's Terraform JSON (cdktf/synth.ts), passed in so that the job path never loads CDKTF. */
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
}

export type SynthesizeFleet = (spec: FleetSpec, settings: SynthSettings) => string;

/** The parts of the webhook payloads IssueOps reads. */
interface User {
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
}
export interface PullRequestPayload {
  action: string;
  pull_request: { number: number; merged?: boolean | null; head: { sha: string }; merged_by?: User | null };
  repository: Repository;
  installation?: { id: number };
}
export interface IssueCommentPayload {
  action: string;
  issue: { number: number; pull_request?: unknown };
  comment: { body: string; user: User | null; created_at: string };
  repository: Repository;
  installation?: { id: number };
}

/** Timings of one plan, for logs and the benchmark. */
export interface PlanTimings {
  validateMs: number;
  synthMs: number;
  publishMs: number;
  initMs: number;
  planMs: number;
  showMs: number;
  commentMs: number;
}

export class IssueOps {
  private readonly lanes = new SerialLanes();
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly synthSettings: SynthSettings;

  constructor(private readonly deps: IssueOpsDeps) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? realSleep;
    this.synthSettings = { backend: deps.settings.terraform.backend, provider: deps.settings.terraform.provider };
  }

  /**
   * At start: fleets applied earlier serve jobs again, and work a crash interrupted is finished or
   * reported: a plan under way is made again, an apply under way is reported as failed (Terraform's
   * saved plan cannot be resumed; its state says what was done).
   */
  async load(): Promise<void> {
    for (const fleet of await this.deps.store.provisionedFleets()) {
      const live = fleetSpecSchema.parse(fleet.live);
      if (this.deps.fleets.isFromFile(live.name)) {
        this.deps.log.warn({ fleet: live.name }, 'fleet applied by IssueOps is also in the fleets file; the file wins');
        continue;
      }
      this.deps.fleets.putProvisioned(live);
      if (fleet.status === 'draining') this.deps.fleets.drain(live.name);
    }
    for (const request of await this.deps.store.unfinishedRequests()) {
      if (request.status === 'planning') this.enqueue(request, () => this.plan(request.repo, request.issueNumber, false));
      if (request.status === 'applying') {
        this.enqueue(request, async () => {
          const github = await this.deps.github(request.installationId);
          await this.fail(github, request, 'fleetbot restarted during the apply; comment `/plan` for a new plan and approve again.');
        });
      }
    }
  }

  /** Waits until no IssueOps work is queued or running. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private isOurRepository(repository: Repository): boolean {
    return repository.full_name.toLowerCase() === this.deps.settings.repository.toLowerCase();
  }

  onIssue(payload: IssuesPayload): void {
    const { issue } = payload;
    if (!this.isOurRepository(payload.repository) || issue.pull_request || issue.state === 'closed') return;
    if (!['opened', 'edited', 'labeled', 'reopened'].includes(payload.action)) return;
    const labels = (issue.labels ?? []).map((label) => (typeof label === 'string' ? label : (label?.name ?? '')));
    const kind: RequestKind | undefined = labels.includes(LABELS.request)
      ? 'create'
      : labels.includes(LABELS.delete)
        ? 'delete'
        : undefined;
    if (!kind || !payload.installation) return;
    const installationId = payload.installation.id;
    const request = { repo: this.deps.settings.repository, issueNumber: issue.number, installationId, prNumber: null };
    this.enqueue(request, () => this.handleRequest({ ...request, kind, author: issue.user?.login ?? '', body: issue.body ?? '', labels }));
  }

  async onPullRequest(payload: PullRequestPayload): Promise<void> {
    if (!this.isOurRepository(payload.repository)) return;
    const request = await this.deps.store.getRequestByPull(this.deps.settings.repository, payload.pull_request.number);
    if (!request) return;
    if (payload.action === 'synchronize' || payload.action === 'reopened') {
      this.enqueue(request, () => this.plan(request.repo, request.issueNumber, false));
    } else if (payload.action === 'closed') {
      const mergedBy = payload.pull_request.merged ? (payload.pull_request.merged_by?.login ?? 'someone') : undefined;
      this.enqueue(request, () => this.pullClosed(request.repo, request.issueNumber, mergedBy));
    }
  }

  async onComment(payload: IssueCommentPayload): Promise<void> {
    if (payload.action !== 'created' || !payload.issue.pull_request || !this.isOurRepository(payload.repository)) return;
    const command = parseCommand(payload.comment.body);
    if (!command) return;
    const commenter = payload.comment.user;
    // Only people approve; a bot (fleetbot's own comments included) is never answered, so no loops.
    if (!commenter || commenter.type !== 'User') return;
    const request = await this.deps.store.getRequestByPull(this.deps.settings.repository, payload.issue.number);
    if (!request) return;
    const commentedAt = Date.parse(payload.comment.created_at);
    this.enqueue(request, () =>
      command.kind === 'plan'
        ? this.replanOnRequest(request.repo, request.issueNumber, commenter.login)
        : this.approve(request.repo, request.issueNumber, command, commenter as Required<User>, commentedAt),
    );
  }

  private enqueue(
    request: Pick<FleetRequestRecord, 'repo' | 'issueNumber' | 'installationId' | 'prNumber'>,
    task: () => Promise<void>,
  ): void {
    const key = laneKey(request.repo, request.issueNumber);
    this.track(key, this.lanes.run(key, task), request.installationId, request.prNumber ?? request.issueNumber);
  }

  /**
   * Runs work in the background. An unexpected failure (GitHub still failing after retries, a full
   * disk) is logged and, where possible, explained where the person who asked will see it.
   */
  private track(key: string, work: Promise<void>, installationId: number, explainOn: number): void {
    const tracked = work.catch(async (error: unknown) => {
      this.deps.log.error({ request: key, err: errorFields(error) }, 'IssueOps work failed');
      try {
        const github = await this.deps.github(installationId);
        await github.comment(explainOn, failureComment(redactSecrets(errorFields(error).message, this.deps.secrets)));
      } catch (reportError) {
        this.deps.log.error({ request: key, err: errorFields(reportError) }, 'could not report the failure on GitHub');
      }
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  // ---- requests -------------------------------------------------------------------------------

  private async handleRequest(input: {
    repo: string;
    issueNumber: number;
    kind: RequestKind;
    installationId: number;
    author: string;
    body: string;
    labels: string[];
  }): Promise<void> {
    const { store, log } = this.deps;
    const started = this.now();
    const github = await this.deps.github(input.installationId);
    const existing = await store.getRequest(input.repo, input.issueNumber);
    if (existing && ['applying', 'applied'].includes(existing.status)) {
      log.info({ issue: input.issueNumber, status: existing.status }, 'request already applied or applying; edit ignored');
      return;
    }
    const locks = await store.fleetLocks();
    const lockedBy = (name: string) =>
      locks.find((lock) => lock.fleet === name && !(lock.repo === input.repo && lock.issueNumber === input.issueNumber));

    const form = input.kind === 'create' ? this.deps.forms.request : this.deps.forms.delete;
    const parsed = parseIssueBody(input.body, form);
    let problems: FieldProblem[] = parsed.ok ? [] : parsed.problems;
    let spec: FleetSpec | undefined;
    let fleet: string | undefined;
    if (parsed.ok && input.kind === 'create') {
      const result = validateFleetRequest(parsed.values, {
        defaults: this.deps.settings.defaults,
        requestIssue: input.issueNumber,
        warmPoolOwner: repoOwner(this.deps.settings.repository),
        nameTaken: (name) => {
          if (this.deps.fleets.get(name)) return `a fleet named "${name}" already exists`;
          // Runner credentials live at /fleetbot/runners/<fleet>-<job>-…, and a fleet's runners may read
          // <fleet>-*: a name that extends another fleet's name with "-" would share its credentials.
          const overlapping = this.deps.fleets
            .all()
            .find((fleet) => name.startsWith(`${fleet.name}-`) || fleet.name.startsWith(`${name}-`));
          if (overlapping)
            return `"${name}" and the existing fleet "${overlapping.name}" would share runner credentials (one name starts with the other plus "-")`;
          const lock = lockedBy(name);
          return lock ? `fleet "${name}" is already being requested in #${lock.issueNumber}` : undefined;
        },
      });
      if (result.ok) ({ spec } = result);
      else problems = result.problems;
      fleet = spec?.name;
    } else if (parsed.ok) {
      const result = validateDeleteRequest(parsed.values, { fleetExists: (name) => this.deps.fleets.isProvisioned(name) });
      if (result.ok) fleet = result.name;
      else problems = result.problems;
      if (fleet && lockedBy(fleet)) {
        problems = [
          {
            field: 'Fleet name',
            message: `fleet "${fleet}" is locked by the request in #${lockedBy(fleet)!.issueNumber} until its pull request is merged or closed`,
          },
        ];
      }
    }
    if (fleet && existing?.fleet && existing.prNumber !== null && existing.fleet !== fleet && existing.status !== 'closed') {
      problems = [
        {
          field: 'Fleet name',
          message: `cannot change from "${existing.fleet}" once pull request #${existing.prNumber} is open; close it and file a new request`,
        },
      ];
    }

    const record: FleetRequestRecord = existing ?? {
      repo: input.repo,
      issueNumber: input.issueNumber,
      kind: input.kind,
      installationId: input.installationId,
      author: input.author,
      fleet: null,
      status: 'invalid',
      detail: null,
      spec: null,
      prNumber: null,
      branch: null,
      plannedSha: null,
      planFile: null,
      plannedAt: null,
      planSummary: null,
      appliedSha: null,
      createdAt: this.now(),
      updatedAt: this.now(),
    };
    record.installationId = input.installationId;

    if (problems.length > 0 || !fleet) {
      log.info({ issue: input.issueNumber, problems: problems.length }, 'fleet request is invalid');
      await github.addLabel(input.issueNumber, LABELS.invalid);
      await github.upsertComment(input.issueNumber, MARKERS.request, invalidRequestComment(problems));
      await store.saveRequest({ ...record, status: 'invalid', detail: `${problems.length} invalid field(s)`, updatedAt: this.now() });
      return;
    }
    const validateMs = this.now() - started;

    const lock = await store.acquireFleetLock(fleet, input.repo, input.issueNumber, this.now());
    if (lock.repo !== input.repo || lock.issueNumber !== input.issueNumber) {
      const message = `fleet "${fleet}" is locked by the request in #${lock.issueNumber} until its pull request is merged or closed`;
      await github.addLabel(input.issueNumber, LABELS.invalid);
      await github.upsertComment(input.issueNumber, MARKERS.request, invalidRequestComment([{ field: 'Fleet name', message }]));
      await store.saveRequest({ ...record, status: 'invalid', detail: message, updatedAt: this.now() });
      return;
    }

    const synthStarted = this.now();
    const files = input.kind === 'create' ? this.requestFiles(spec!) : deletionFiles(fleet);
    const synthMs = this.now() - synthStarted;
    const publishStarted = this.now();
    const pull = await this.publish(github, record, input.kind, fleet, files, spec);
    // An edit that left the files as they were (only the justification changed, say) keeps its plan.
    const planStands = record.status === 'planned' && record.plannedSha === pull.headSha;
    const saved: FleetRequestRecord = {
      ...record,
      kind: input.kind,
      fleet,
      spec: spec ?? existing?.spec ?? null,
      status: planStands ? 'planned' : 'planning',
      detail: null,
      prNumber: pull.number,
      branch: pull.headRef,
      updatedAt: this.now(),
    };
    await store.saveRequest(saved);
    const publishMs = this.now() - publishStarted;
    // The issue's label and comment are written while terraform plans: GitHub paces writes about a
    // second apart, and the plan need not wait for them.
    const tellIssue = async () => {
      if (input.labels.includes(LABELS.invalid)) await github.removeLabel(input.issueNumber, LABELS.invalid);
      await github.upsertComment(input.issueNumber, MARKERS.request, acceptedRequestComment(input.kind, fleet, pull.htmlUrl, pull.number));
    };
    const results = await Promise.allSettled([
      tellIssue(),
      this.plan(saved.repo, saved.issueNumber, false, { validateMs, synthMs, publishMs }),
    ]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  }

  private requestFiles(spec: FleetSpec): Record<string, string> {
    return {
      [`fleets/${spec.name}.yml`]: specYaml(spec),
      [`terraform/${spec.name}/cdk.tf.json`]: this.deps.synthesize(spec, this.synthSettings),
    };
  }

  /**
   * One commit on the default branch through the git data API (no clone), on fleetbot's branch for the
   * request, and a pull request for it. An edit that changes nothing in the files keeps the branch as
   * it is, so its plan stays valid; the PR text is refreshed either way.
   */
  private async publish(
    github: IssueOpsGitHub,
    record: FleetRequestRecord,
    kind: RequestKind,
    fleet: string,
    files: Record<string, string | null>,
    spec: FleetSpec | undefined,
  ) {
    const branch = kind === 'create' ? `fleetbot/fleet-${fleet}` : `fleetbot/delete-fleet-${fleet}`;
    const base = await github.defaultBranch();
    const title = kind === 'create' ? `Create runner fleet ${fleet}` : `Delete runner fleet ${fleet}`;
    const details = spec
      ? fleetSummary(spec)
      : `Removes \`fleets/${fleet}.yml\` and \`terraform/${fleet}/\`; the plan destroys the fleet's resources.`;
    const body = pullRequestBody(kind, fleet, record.issueNumber, details);

    let open = record.prNumber !== null ? await github.getPull(record.prNumber) : undefined;
    if (open && open.state !== 'open') open = undefined;
    const current = open ? await github.branchSha(branch) : undefined;
    if (!current || !(await sameFiles(github, current, files))) {
      const baseSha = await github.branchSha(base);
      if (!baseSha) throw new Error(`the default branch ${base} of ${github.fullName} has no commits`);
      const commit = await github.createCommit(baseSha, files, `${title} (#${record.issueNumber})`);
      await github.setBranch(branch, commit);
    }
    if (open) {
      await github.updatePull(open.number, { title, body });
      return github.getPull(open.number);
    }
    return github.openPull(branch, base, title, body);
  }

  // ---- plan -----------------------------------------------------------------------------------

  private async replanOnRequest(repo: string, issueNumber: number, login: string): Promise<void> {
    const request = await this.deps.store.getRequest(repo, issueNumber);
    if (!request || ['applying', 'applied', 'closed'].includes(request.status)) return;
    const github = await this.deps.github(request.installationId);
    const allowed =
      login.toLowerCase() === request.author.toLowerCase() ||
      (await isApprover(login, this.deps.settings.approvers, repoOwner(repo), github));
    if (!allowed) {
      await github.comment(request.prNumber!, refusalComment(login, 'only the requester or an approver can ask for a new plan.'));
      return;
    }
    await this.plan(repo, issueNumber, true);
  }

  /**
   * Plans the PR head: the fleet lock is (re)taken, the head's files are checked to be exactly what
   * fleetbot synthesizes, terraform saves a plan for that SHA, and the plan comment and check run say so.
   */
  private async plan(
    repo: string,
    issueNumber: number,
    force: boolean,
    earlier?: Pick<PlanTimings, 'validateMs' | 'synthMs' | 'publishMs'>,
  ): Promise<void> {
    const { store, workspace, log } = this.deps;
    const request = await store.getRequest(repo, issueNumber);
    // A closed request plans again only if its pull request was reopened (checked below).
    if (!request?.fleet || request.prNumber === null || ['applying', 'applied', 'invalid'].includes(request.status)) return;
    const fleet = request.fleet;
    const github = await this.deps.github(request.installationId);
    const pull = await github.getPull(request.prNumber);
    if (pull.state !== 'open') return;
    if (!force && request.status === 'planned' && request.plannedSha === pull.headSha) return;
    await store.saveRequest({ ...request, status: 'planning', updatedAt: this.now() });

    const lock = await store.acquireFleetLock(fleet, repo, issueNumber, this.now());
    if (lock.repo !== repo || lock.issueNumber !== issueNumber) {
      await this.planFailed(
        github,
        request,
        pull.headSha,
        `fleet \`${fleet}\` is locked by the request in #${lock.issueNumber}; plan again once it is merged or closed.`,
      );
      return;
    }
    // The check run is created while the head is checked and planned (writes are paced by GitHub).
    const check = github.startCheck(pull.headSha, CHECK_NAME, `Planning ${pull.headSha.slice(0, 7)}`);
    check.catch(() => undefined);
    const verified = await this.verifyHead(github, request, pull.headSha);
    if (!verified.ok) {
      await this.planFailed(github, request, pull.headSha, verified.reason, undefined, await check);
      return;
    }

    let planned;
    try {
      planned = await workspace.plan(fleet, verified.terraformJson, pull.headSha, request.kind === 'delete');
    } catch (error) {
      if (!(error instanceof TerraformError)) throw error;
      log.warn({ fleet, sha: pull.headSha, exitCode: error.exitCode }, 'terraform plan failed');
      await this.planFailed(
        github,
        request,
        pull.headSha,
        `\`${error.command}\` failed${error.timedOut ? ' (timed out)' : ''}:`,
        error.tail,
        await check,
      );
      return;
    }
    const commentStarted = this.now();
    await github.completeCheck(await check, 'success', planned.result.summary, `Saved plan for ${pull.headSha}: ${planned.result.summary}`);
    await github.upsertComment(
      request.prNumber,
      MARKERS.plan,
      planComment({
        sha: pull.headSha,
        summary: planned.result.summary,
        text: redactSecrets(planned.result.text, this.deps.secrets),
        kind: request.kind,
        fleet,
      }),
    );
    const plannedAt = this.now();
    const commentMs = plannedAt - commentStarted;
    await store.saveRequest({
      ...request,
      status: 'planned',
      detail: null,
      plannedSha: pull.headSha,
      planFile: planned.planFile,
      plannedAt,
      planSummary: planned.result.summary,
      updatedAt: this.now(),
    });
    const timings: PlanTimings = {
      validateMs: earlier?.validateMs ?? 0,
      synthMs: (earlier?.synthMs ?? 0) + verified.synthMs,
      publishMs: earlier?.publishMs ?? 0,
      initMs: planned.initMs,
      planMs: planned.result.durationsMs.plan,
      showMs: planned.result.durationsMs.show,
      commentMs,
    };
    log.info(
      { fleet, issue: issueNumber, pr: request.prNumber, sha: pull.headSha, summary: planned.result.summary, timings },
      'plan posted',
    );
  }

  /**
   * The head must hold exactly what fleetbot synthesizes from the head's own fleet spec (create), or
   * no longer hold the fleet's files (delete): a hand-edited Terraform file is never planned, because
   * planning runs providers and data sources on this host.
   */
  private async verifyHead(
    github: IssueOpsGitHub,
    request: FleetRequestRecord,
    sha: string,
  ): Promise<{ ok: true; terraformJson: string; synthMs: number } | { ok: false; reason: string }> {
    const fleet = request.fleet!;
    const specPath = `fleets/${fleet}.yml`;
    const terraformPath = `terraform/${fleet}/cdk.tf.json`;
    const [specText, committedJson] = await Promise.all([github.readFile(specPath, sha), github.readFile(terraformPath, sha)]);
    const started = this.now();
    if (request.kind === 'delete') {
      if (specText !== undefined || committedJson !== undefined) {
        return {
          ok: false,
          reason: `this deletion's head still has \`${specText !== undefined ? specPath : terraformPath}\`; it must remove the fleet's files.`,
        };
      }
      const provisioned = (await this.deps.store.provisionedFleets()).find((entry) => entry.name === fleet);
      if (!provisioned) return { ok: false, reason: `fleet \`${fleet}\` is not a fleet applied by IssueOps (any more).` };
      const terraformJson = this.deps.synthesize(fleetSpecSchema.parse(provisioned.requested), this.synthSettings);
      return { ok: true, terraformJson, synthMs: this.now() - started };
    }
    if (specText === undefined || committedJson === undefined) {
      return { ok: false, reason: `the head has no \`${specText === undefined ? specPath : terraformPath}\`.` };
    }
    let spec: FleetSpec;
    try {
      const parsed = fleetSpecSchema.safeParse(parseYaml(specText));
      if (!parsed.success) {
        return {
          ok: false,
          reason: `\`${specPath}\` is not a valid fleet: ${formatZodIssues(parsed.error).join('; ')}`,
        };
      }
      spec = parsed.data;
    } catch (error) {
      return { ok: false, reason: `\`${specPath}\` is not valid YAML: ${(error as Error).message}` };
    }
    if (spec.name !== fleet || !spec.provision) {
      return { ok: false, reason: `\`${specPath}\` must describe fleet \`${fleet}\` with its \`provision\` section.` };
    }
    const terraformJson = this.deps.synthesize(spec, this.synthSettings);
    if (terraformJson !== committedJson) {
      return {
        ok: false,
        reason: `\`${terraformPath}\` is not what fleetbot synthesizes from \`${specPath}\`. fleetbot plans only its own synthesis: change the fleet by editing the request issue #${request.issueNumber}.`,
      };
    }
    return { ok: true, terraformJson, synthMs: this.now() - started };
  }

  private async planFailed(
    github: IssueOpsGitHub,
    request: FleetRequestRecord,
    sha: string,
    reason: string,
    tail?: string,
    checkId?: number,
  ): Promise<void> {
    if (checkId !== undefined) await github.completeCheck(checkId, 'failure', 'No plan', reason);
    await github.upsertComment(request.prNumber!, MARKERS.plan, planFailedComment(sha, reason, tail));
    await this.deps.store.saveRequest({
      ...(await this.reload(request)),
      status: 'plan_failed',
      detail: reason,
      plannedSha: null,
      planFile: null,
      updatedAt: this.now(),
    });
  }

  // ---- approve --------------------------------------------------------------------------------

  private async approve(
    repo: string,
    issueNumber: number,
    command: Exclude<Command, { kind: 'plan' }>,
    commenter: { login: string; type: string },
    commentedAt: number,
  ): Promise<void> {
    const { store, log } = this.deps;
    const request = await store.getRequest(repo, issueNumber);
    if (!request?.prNumber || !request.fleet) return;
    const github = await this.deps.github(request.installationId);
    const prNumber = request.prNumber;
    const refuse = async (reason: string) => {
      log.info({ fleet: request.fleet, pr: prNumber, user: commenter.login, reason }, 'approval refused');
      await github.comment(prNumber, refusalComment(commenter.login, reason));
    };
    if (request.status === 'applied') {
      await github.comment(prNumber, alreadyAppliedComment(commenter.login, request.appliedSha ?? request.plannedSha ?? ''));
      return;
    }
    if (!(await isApprover(commenter.login, this.deps.settings.approvers, repoOwner(repo), github))) {
      await refuse(`you are not an approver: approving needs ${describeApprovers(this.deps.settings.approvers)}.`);
      return;
    }
    const [pull, locks] = await Promise.all([github.getPull(prNumber), store.fleetLocks()]);
    const verdict = checkApprovalRequest({
      request,
      command,
      commenter,
      commentedAt,
      pull,
      lock: locks.find((lock) => lock.fleet === request.fleet),
    });
    if (!verdict.allowed) {
      await refuse(verdict.reason);
      return;
    }
    await this.apply(github, request, commenter.login);
  }

  /** Applies the saved plan, records the fleet, merges with the planned SHA and closes the issue. */
  private async apply(github: IssueOpsGitHub, request: FleetRequestRecord, approver: string): Promise<void> {
    const { store, workspace, fleets, log } = this.deps;
    const fleet = request.fleet!;
    const sha = request.plannedSha!;
    const prNumber = request.prNumber!;
    const started = this.now();
    await store.saveRequest({ ...request, status: 'applying', detail: `approved by ${approver}`, updatedAt: this.now() });
    log.info({ fleet, pr: prNumber, sha, approver }, 'applying the saved plan');

    let droppedJobs = 0;
    let outputs: Record<string, { value: unknown }>;
    try {
      if (request.kind === 'delete') droppedJobs = await this.drain(fleet);
      outputs = await workspace.apply(fleet, request.planFile!);
    } catch (error) {
      if (!(error instanceof TerraformError)) throw error;
      log.warn({ fleet, sha, exitCode: error.exitCode }, 'terraform apply failed');
      await this.fail(github, request, `terraform apply failed (exit ${error.exitCode ?? 'killed'})`, applyFailedComment(sha, error.tail));
      return;
    }

    if (request.kind === 'create') {
      const requested = fleetSpecSchema.parse(request.spec);
      const live = liveFleetSpec(requested, outputs);
      await store.putProvisionedFleet({
        name: fleet,
        requested,
        live,
        status: 'live',
        appliedSha: sha,
        requestIssue: request.issueNumber,
        updatedAt: this.now(),
      });
      fleets.putProvisioned(live);
    } else {
      await store.deleteProvisionedFleet(fleet);
      fleets.removeProvisioned(fleet);
    }
    const appliedMs = this.now() - started;

    let mergeProblem: string | undefined;
    try {
      await github.merge(prNumber, sha, `${request.kind === 'create' ? 'Create' : 'Delete'} runner fleet ${fleet} (#${prNumber})`);
    } catch (error) {
      mergeProblem = errorFields(error).message;
      log.warn({ fleet, pr: prNumber, err: errorFields(error) }, 'merge after apply failed');
    }
    await store.saveRequest({
      ...(await this.reload(request)),
      status: 'applied',
      appliedSha: sha,
      detail: mergeProblem ?? null,
      updatedAt: this.now(),
    });
    await store.releaseFleetLock(fleet, request.repo, request.issueNumber);
    await workspace.discardPlans(fleet);
    await github.comment(prNumber, appliedComment(sha, request.kind, fleet, mergeProblem === undefined, mergeProblem));
    const closing =
      request.kind === 'create' ? fleetReadyComment(fleets.get(fleet)!, prNumber) : fleetDeletedComment(fleet, prNumber, droppedJobs);
    await github.comment(request.issueNumber, closing);
    await github.closeIssue(request.issueNumber, 'completed');
    log.info({ fleet, pr: prNumber, sha, appliedMs, totalMs: this.now() - started, merged: !mergeProblem }, 'fleet request applied');
  }

  /**
   * Stops a fleet taking jobs before it is destroyed: its backlog is dropped (and logged job by job),
   * and the apply waits for busy runners to finish, up to the drain timeout.
   */
  private async drain(fleet: string): Promise<number> {
    const { store, jobs, fleets, log } = this.deps;
    const provisioned = (await store.provisionedFleets()).find((entry) => entry.name === fleet);
    if (provisioned) await store.putProvisionedFleet({ ...provisioned, status: 'draining', updatedAt: this.now() });
    fleets.drain(fleet);
    const dropped = await jobs.abandonWaitingJobs(fleet, this.now());
    for (const job of dropped) {
      log.warn({ fleet, ci: job.ci, jobId: job.jobId }, 'queued job dropped: its fleet is being deleted');
    }
    const deadline = this.now() + this.deps.settings.drainTimeoutSeconds * 1000;
    for (;;) {
      const active = (await jobs.fleetCounts()).get(fleet)?.active ?? 0;
      if (active === 0) break;
      if (this.now() >= deadline) {
        log.warn({ fleet, active }, 'drain timeout: destroying with runners still busy');
        break;
      }
      log.info({ fleet, active }, 'waiting for busy runners before destroying the fleet');
      await this.sleep(this.deps.drainPollMs ?? 5000);
    }
    return dropped.length;
  }

  /** An apply that did not finish: nothing merges, the lock is released and a new plan is needed. */
  private async fail(github: IssueOpsGitHub, request: FleetRequestRecord, detail: string, comment = `fleetbot: ${detail}`): Promise<void> {
    const fleet = request.fleet!;
    await this.deps.store.saveRequest({
      ...(await this.reload(request)),
      status: 'apply_failed',
      detail,
      plannedSha: null,
      planFile: null,
      updatedAt: this.now(),
    });
    await this.deps.store.releaseFleetLock(fleet, request.repo, request.issueNumber);
    await this.deps.workspace.discardPlans(fleet);
    if (request.prNumber !== null) await github.comment(request.prNumber, comment);
  }

  private async pullClosed(repo: string, issueNumber: number, mergedBy: string | undefined): Promise<void> {
    const { store, workspace, log } = this.deps;
    const request = await store.getRequest(repo, issueNumber);
    if (!request?.fleet || request.status === 'applied' || request.status === 'applying') return;
    const github = await this.deps.github(request.installationId);
    await store.saveRequest({
      ...request,
      status: 'closed',
      detail: mergedBy ? `merged by ${mergedBy} without /approve` : 'pull request closed',
      updatedAt: this.now(),
    });
    await store.releaseFleetLock(request.fleet, repo, issueNumber);
    await workspace.discardPlans(request.fleet);
    log.info({ fleet: request.fleet, pr: request.prNumber, mergedBy }, 'request pull request closed; lock released');
    if (mergedBy) {
      await github.comment(
        request.prNumber!,
        `⚠️ @${mergedBy} merged this without \`/approve\`: fleetbot applied nothing, so the fleet's resources do not match the repository.`,
      );
    }
  }

  private async reload(request: FleetRequestRecord): Promise<FleetRequestRecord> {
    return (await this.deps.store.getRequest(request.repo, request.issueNumber)) ?? request;
  }
}

function laneKey(repo: string, issueNumber: number): string {
  return `${repo.toLowerCase()}#${issueNumber}`;
}

function repoOwner(repo: string): string {
  return repo.split('/')[0];
}

function deletionFiles(fleet: string): Record<string, null> {
  return { [`fleets/${fleet}.yml`]: null, [`terraform/${fleet}/cdk.tf.json`]: null };
}

/** The spec as committed: YAML with a header saying where it came from. */
export function specYaml(spec: FleetSpec): string {
  return `# Written by fleetbot from request #${spec.provision?.requestIssue ?? '?'}; change it by editing the request.\n${stringifyYaml(spec)}`;
}

async function sameFiles(github: IssueOpsGitHub, sha: string, files: Record<string, string | null>): Promise<boolean> {
  for (const [path, content] of Object.entries(files)) {
    if ((await github.readFile(path, sha)) !== (content ?? undefined)) return false;
  }
  return true;
}
