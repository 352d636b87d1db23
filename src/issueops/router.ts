import type { FleetRequestRecord, RequestKind } from '../store/types.js';
import { approve } from './approve.js';
import { pullClosed } from './closed.js';
import { parseCommand, type Command } from './commands.js';
import { handleRequest, LABELS } from './intake.js';
import { planHead, replanOnRequest } from './plan.js';
import type { RequestQueue } from './queue.js';
import type { IssueCommentPayload, IssueOpsContext, IssuesPayload, PullRequestPayload, User } from './types.js';

/**
 * Webhooks in, handlers out: each payload is filtered (our repository, a request's issue or pull
 * request, a person's command), and what it asks for is looked up in a table and queued in the
 * request's lane.
 */

type CommandKind = Command['kind'];

/** A comment's command, who wrote it when, and on which pull request. */
export interface CommentCommand<Kind extends CommandKind = CommandKind> {
  command: Extract<Command, { kind: Kind }>;
  commenter: Required<User>;
  commentedAt: number;
  prNumber: number;
}

type Handler<Input> = (ctx: IssueOpsContext, request: FleetRequestRecord, input: Input) => Promise<void>;

function approveHandler<Kind extends 'approve' | 'approve-destroy'>(
  ctx: IssueOpsContext,
  request: FleetRequestRecord,
  { command, commenter, commentedAt }: CommentCommand<Kind>,
): Promise<void> {
  return approve(ctx, request.repo, request.issueNumber, { command, commenter, commentedAt });
}

/** What each command in a pull request comment runs. */
export const commentHandlers: { [Kind in CommandKind]: Handler<CommentCommand<Kind>> } = {
  plan: (ctx, request, { commenter, prNumber }) => replanOnRequest(ctx, request.repo, request.issueNumber, prNumber, commenter.login),
  approve: approveHandler,
  'approve-destroy': approveHandler,
};

function runCommand<Kind extends CommandKind>(ctx: IssueOpsContext, request: FleetRequestRecord, kind: Kind, input: CommentCommand<Kind>) {
  return commentHandlers[kind](ctx, request, input);
}

/** What each pull request action runs; other actions need nothing. */
export const pullRequestHandlers: Record<string, Handler<PullRequestPayload['pull_request']>> = {
  synchronize: (ctx, request) => planHead(ctx, request.repo, request.issueNumber),
  reopened: (ctx, request) => planHead(ctx, request.repo, request.issueNumber),
  closed: (ctx, request, pull) =>
    pullClosed(ctx, request.repo, request.issueNumber, pull.merged ? (pull.merged_by?.login ?? 'someone') : undefined),
};

/** The request issue's kind, by its label; the request label wins when an issue has both. */
const issueKinds: [label: string, kind: RequestKind][] = [
  [LABELS.request, 'create'],
  [LABELS.delete, 'delete'],
];

/** A person's login (fleetbot's own pushes come from its bot, which never approves). */
function person(user: User | null | undefined): string | undefined {
  return user && user.type !== 'Bot' ? user.login : undefined;
}

export class IssueOpsRouter {
  constructor(
    private readonly ctx: IssueOpsContext,
    private readonly queue: RequestQueue,
  ) {}

  onIssue(payload: IssuesPayload): void {
    const { issue } = payload;
    if (!this.isOurRepository(payload) || issue.pull_request || issue.state === 'closed') return;
    if (!['opened', 'edited', 'labeled', 'reopened'].includes(payload.action)) return;
    const labels = (issue.labels ?? []).map((label) => (typeof label === 'string' ? label : (label?.name ?? '')));
    const kind = issueKinds.find(([label]) => labels.includes(label))?.[1];
    if (!kind || !payload.installation) return;
    const request = { repo: this.ctx.settings.repository, issueNumber: issue.number, installationId: payload.installation.id };
    const author = issue.user?.login ?? '';
    // Whoever else edits the form changes the request: they may not approve it.
    const editor = payload.action === 'edited' ? person(payload.sender) : undefined;
    const editedBy = editor && editor.toLowerCase() !== author.toLowerCase() ? editor : undefined;
    this.queue.enqueue({ ...request, prNumber: null }, () =>
      handleRequest(this.ctx, { ...request, kind, author, body: issue.body ?? '', labels, editedBy }),
    );
  }

  async onPullRequest(payload: PullRequestPayload): Promise<void> {
    if (!this.isOurRepository(payload) || !Object.hasOwn(pullRequestHandlers, payload.action)) return;
    const handler = pullRequestHandlers[payload.action];
    const request = await this.ctx.store.getRequestByPull(this.ctx.settings.repository, payload.pull_request.number);
    if (!request) return;
    // Whoever pushes to the branch changes the request: they may not approve it.
    const pusher = payload.action === 'synchronize' ? person(payload.sender) : undefined;
    if (pusher) await this.ctx.store.addRequestChanger(request.repo, request.issueNumber, pusher, this.ctx.now());
    this.queue.enqueue(request, () => handler(this.ctx, request, payload.pull_request));
  }

  async onComment(payload: IssueCommentPayload): Promise<void> {
    if (payload.action !== 'created' || !payload.issue.pull_request || !this.isOurRepository(payload)) return;
    const command = parseCommand(payload.comment.body);
    if (!command) return;
    const commenter = payload.comment.user;
    // Only people approve; a bot (fleetbot's own comments included) is never answered, so no loops.
    if (!commenter || commenter.type !== 'User') return;
    const request = await this.ctx.store.getRequestByPull(this.ctx.settings.repository, payload.issue.number);
    if (!request) return;
    const input: CommentCommand = {
      command,
      commenter: { login: commenter.login, type: commenter.type },
      commentedAt: Date.parse(payload.comment.created_at),
      prNumber: payload.issue.number,
    };
    this.queue.enqueue(request, () => runCommand(this.ctx, request, command.kind, input));
  }

  private isOurRepository(payload: { repository: { full_name: string } }): boolean {
    return payload.repository.full_name.toLowerCase() === this.ctx.settings.repository.toLowerCase();
  }
}
