import { createProbot, type Logger } from 'probot';

/**
 * Probot's access log records every request's headers, and GitLab sends its webhook secret as one
 * (X-Gitlab-Token): those headers are censored in every line.
 */
export const SECRET_HEADER_REDACTION = {
  paths: ['req.headers["x-gitlab-token"]'],
  censor: '[redacted]',
};

type LogLevel = NonNullable<NonNullable<Parameters<typeof createProbot>[0]>['overrides']>['logLevel'];

/**
 * The app's logger: Probot's own, configured by Probot's variables (LOG_LEVEL, LOG_FORMAT, ...),
 * with secret headers censored. Probot builds it only for a Probot instance, hence the one made here.
 */
export async function createAppLog(env: NodeJS.ProcessEnv): Promise<Logger> {
  // Probot's `run` logs at info unless told otherwise; createProbot alone would default to warn.
  const probot = createProbot({ env, overrides: { logLevel: (env.LOG_LEVEL ?? 'info') as LogLevel } });
  await probot.ready();
  return probot.log.child({}, { redact: SECRET_HEADER_REDACTION });
}
