/** A job record's timeline steps, none taken yet: for tests that build a JobRecord by hand. */
export const UNTIMED = { queuedAt: null, claimedAt: null, launchRequestedAt: null, launchedAt: null, completedAt: null } as const;
