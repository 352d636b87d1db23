/**
 * Secrets out of Terraform's output before it reaches a log or an issue comment. Pure text in, text out.
 */

export const REDACTED = '[REDACTED]';

// Long-term (AKIA) and temporary (ASIA) access key ids, plus the rarer ABIA/ACCA credential prefixes.
// Other AWS unique ids (AROA…, AIDA…) name principals and appear legitimately in plans.
const AWS_ACCESS_KEY_ID = /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g;

// ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ installation, ghr_ refresh; fine-grained PATs.
const GITHUB_TOKEN = /\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})\b/g;

// GitLab's prefixed tokens: glrt- runner authentication, glpat- personal, gldt- deploy, glcbt- CI job, and
// the rest of the family; newer runner tokens carry a routing part after a dot.
const GITLAB_TOKEN = /\bgl(?:rt|pat|dt|cbt|ptt|ft|imt|oas|soat|rtr|agent|wt|ffct)-[A-Za-z0-9_.-]{20,}/g;

// CircleCI's personal (CCIPAT_) and project (CCIPRJ_) API tokens. Its older 40-hex tokens and runner
// tokens have no prefix to find them by (they look like commit SHAs): those are redacted by value.
const CIRCLECI_TOKEN = /\bCCIP(?:AT|RJ)_[A-Za-z0-9_]{20,}/g;

// A whole PEM private key block, or everything from its header on when a truncated tail cut the footer.
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:[\s\S]*?-----END \1PRIVATE KEY-----|[\s\S]*$)/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `text` with AWS access key ids, GitHub, GitLab and CircleCI tokens, PEM private key blocks and each non-empty one of `secrets`
 * (the app's own, from its configuration: see config.ts's `secretValues`) replaced by [REDACTED].
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const literals = secrets
    .filter((secret) => secret.length > 0)
    // Longest first, so a secret that contains another is replaced whole.
    .sort((a, b) => b.length - a.length);
  let redacted = text.replace(PEM_PRIVATE_KEY, REDACTED);
  if (literals.length > 0) {
    redacted = redacted.replace(new RegExp([...new Set(literals)].map(escapeRegExp).join('|'), 'g'), REDACTED);
  }
  return [AWS_ACCESS_KEY_ID, GITHUB_TOKEN, GITLAB_TOKEN, CIRCLECI_TOKEN].reduce(
    (result, pattern) => result.replace(pattern, REDACTED),
    redacted,
  );
}
