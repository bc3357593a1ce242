import { ProvenantError } from '../../src/errors.js';

/** The reason code a promise rejects with, `resolved` if it does not, so tests assert codes, never text. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return err instanceof ProvenantError ? err.code : `not a ProvenantError: ${String(err)}`;
  }
  return 'resolved';
}
