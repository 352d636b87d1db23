import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'probot';
import type { VerifiedDelivery, WebhookAnswer, WebhookRequest } from '../deliveries.js';
import { errorFields } from '../errors.js';
import type { FleetRegistry } from '../fleets/registry.js';
import type { GitLabSettings } from '../fleets/spec.js';
import { GITLAB } from './gitlab.js';

export const GITLAB_WEBHOOK_PATH = '/api/gitlab/webhooks';

// A Job Hook is a few kilobytes; anything far larger is not one, and is not read into memory.
export const GITLAB_WEBHOOK_MAX_BYTES = 1024 * 1024;

/** One delivery as received over HTTP, before anything in it is trusted. */
export interface GitLabDelivery {
  token: string | undefined;
  eventName: string | undefined;
  eventUuid: string | undefined;
  body: string;
}

export function gitlabDelivery(request: WebhookRequest): GitLabDelivery {
  const { headers, body } = request;
  return { token: headers['x-gitlab-token'], eventName: headers['x-gitlab-event'], eventUuid: headers['x-gitlab-event-uuid'], body };
}

/** The only event fleetbot needs from GitLab. */
export const JOB_HOOK = 'Job Hook';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison: equal-length digests, so neither content nor length leaks through timing. */
function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Checks an `X-Gitlab-Token` against the webhook secrets of the fleets' GitLab connections. */
export class GitLabWebhookTokens {
  constructor(
    private readonly fleets: FleetRegistry,
    private readonly secrets: { webhookSecret(parameterName: string): Promise<string> },
    private readonly log: Logger,
  ) {}

  /** The connections whose secret the delivery's token equals, or the answer to a missing, wrong or uncheckable one. */
  async verify(delivery: GitLabDelivery): Promise<GitLabSettings[] | WebhookAnswer> {
    if (!delivery.token) return { status: 401, message: 'missing X-Gitlab-Token' };
    const connections = await this.authenticate(delivery.token);
    if (connections === 'unverifiable') return { status: 503, message: 'the webhook secrets could not be read; try again later' };
    if (connections.length > 0) return connections;
    this.log.warn({ deliveryId: delivery.eventUuid }, 'GitLab webhook with an unknown X-Gitlab-Token refused');
    return { status: 401, message: 'invalid X-Gitlab-Token' };
  }

  /**
   * The GitLab connections (fleets' gitlab sections) whose webhook secret the token equals. Every
   * secret is compared, so the answer takes as long whichever one matches.
   */
  private async authenticate(token: string): Promise<GitLabSettings[] | 'unverifiable'> {
    const matched: GitLabSettings[] = [];
    let unreadable = false;
    for (const [parameter, connections] of connectionsBySecret(this.fleets)) {
      try {
        if (sameSecret(token, await this.secrets.webhookSecret(parameter))) matched.push(...connections);
      } catch (error) {
        unreadable = true;
        this.log.error({ parameter, err: errorFields(error) }, 'could not read a GitLab webhook secret');
      }
    }
    return matched.length === 0 && unreadable ? 'unverifiable' : matched;
  }
}

function connectionsBySecret(fleets: FleetRegistry): Map<string, GitLabSettings[]> {
  const bySecret = new Map<string, GitLabSettings[]>();
  for (const fleet of fleets.all()) {
    if (fleet.ci !== GITLAB || !fleet.gitlab) continue;
    const sharing = bySecret.get(fleet.gitlab.webhookSecretParameter) ?? [];
    sharing.push(fleet.gitlab);
    bySecret.set(fleet.gitlab.webhookSecretParameter, sharing);
  }
  return bySecret;
}

/** The connections a queued delivery was verified for, by the parameters of the secrets its token matched. */
export function connectionsVerifiedBy(fleets: FleetRegistry, parameters: readonly string[]): GitLabSettings[] {
  const bySecret = connectionsBySecret(fleets);
  return parameters.flatMap((parameter) => bySecret.get(parameter) ?? []);
}

/**
 * The queue's door for GitLab: a delivery whose token matches is verified, with the secrets it matched
 * (the consumer finds its connections by them; the token itself is not queued). Events other than Job
 * events are answered at once, as the app answers them without a queue.
 */
export async function checkGitLabDelivery(
  tokens: GitLabWebhookTokens,
  delivery: GitLabDelivery,
): Promise<VerifiedDelivery | WebhookAnswer> {
  const connections = await tokens.verify(delivery);
  if (!Array.isArray(connections)) return connections;
  if (delivery.eventName !== JOB_HOOK) return ignoredEvent(delivery.eventName);
  const matched = [...new Set(connections.map((connection) => connection.webhookSecretParameter))];
  return { ci: 'gitlab', id: delivery.eventUuid, event: JOB_HOOK, body: delivery.body, matched };
}

export function ignoredEvent(eventName: string | undefined): WebhookAnswer {
  return { status: 200, message: `event "${eventName ?? '(none)'}" ignored: fleetbot needs only Job events` };
}
