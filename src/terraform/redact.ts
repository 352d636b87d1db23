/**
 * Secrets out of Terraform's output before it reaches a log or an issue comment. Pure text in, text out.
 */

export const REDACTED = '[REDACTED]';

// Long-term (AKIA) and temporary (ASIA) access key ids, plus the rarer ABIA/ACCA credential prefixes.
// Other AWS unique ids (AROA…, AIDA…) name principals and appear legitimately in plans.
const AWS_ACCESS_KEY_ID = /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g;

// ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ installation, ghr_ refresh; fine-grained PATs.
const GITHUB_TOKEN = /\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})\b/g;

// A whole PEM private key block, or everything from its header on when a truncated tail cut the footer.
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:[\s\S]*?-----END \1PRIVATE KEY-----|[\s\S]*$)/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `text` with AWS access key ids, GitHub tokens, PEM private key blocks and each non-empty one of `secrets`
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
  return redacted.replace(AWS_ACCESS_KEY_ID, REDACTED).replace(GITHUB_TOKEN, REDACTED);
}
