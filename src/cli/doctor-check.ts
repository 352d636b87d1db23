/** One thing `fleetbot doctor` checks, and what it found. */
export interface DoctorCheck {
  name: string;
  run(): Promise<Finding>;
}

/** ok; FAIL, with what to do about it; skip, when what it needs failed its own check already. */
export type Finding = { state: 'ok'; detail: string } | { state: 'FAIL'; detail: string; fix: string } | { state: 'skip'; detail: string };

export const pass = (detail: string): Finding => ({ state: 'ok', detail });
export const fail = (detail: string, fix: string): Finding => ({ state: 'FAIL', detail, fix });
export const skip = (detail: string): Finding => ({ state: 'skip', detail });

/** Several problems of one check, each with its fix, as one finding; none is a pass. */
export function findings(problems: readonly { problem: string; fix: string }[], okDetail: string): Finding {
  if (problems.length === 0) return pass(okDetail);
  return fail(problems.map((entry) => entry.problem).join('; '), problems.map((entry) => entry.fix).join('; '));
}

/** An error's name and message, for a finding's detail (never a value the call carried). */
export function describeError(error: unknown): string {
  const { name, message } = error as { name?: string; message?: string };
  return name && message && !message.startsWith(name) ? `${name}: ${message}` : (message ?? String(error));
}
