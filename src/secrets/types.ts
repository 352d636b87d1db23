/**
 * The secrets seam: runner credentials written for one runner each, and the secrets fleetbot itself reads.
 * Implemented with SSM parameters: ssm.ts (runner credentials) and parameters.ts (the app's own tokens).
 */

/** A runner credential as the store lists it, without its value. */
export interface RunnerParameter {
  /** The parameter's full name, which deleting it takes. */
  name: string;
  runnerName: string;
  /** Epoch milliseconds of the last write. */
  lastModifiedAt: number;
}

/** The runner a credential is for. Its fleet is part of where the credential is kept: fleets never share one place. */
export interface CredentialOwner {
  fleet: string;
  /** The runner's name. */
  name: string;
}

/** What the scheduler needs of the runner credential store: a credential per runner, written before launch. */
export interface CredentialStore {
  put(runner: CredentialOwner, value: string): Promise<void>;
  /** Deleting a credential that is gone already (the runner deletes its own once read) is no error. */
  delete(runner: CredentialOwner): Promise<void>;
}

/** What the reconciler needs of the runner credential store to sweep credentials nobody will read. */
export interface RunnerParameterStore {
  listRunnerParameters(): Promise<RunnerParameter[]>;
  /** Deletes parameters by their full names (`RunnerParameter.name`); returns how many existed. */
  deleteRunnerParameters(parameterNames: readonly string[]): Promise<number>;
}

/** Reads secrets fleetbot itself uses (CI API and runner tokens) by parameter name. */
export interface SecretReader {
  read(name: string): Promise<string>;
  /** Drops a cached value, so that a rotated secret is read again (e.g. after the CI system refused it). */
  forget(name: string): void;
}
