import { ProvenantError } from '../errors.js';

/** Invalid command-line input: printed with usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Errors that mean "your input is wrong" rather than "the image is denied". */
export function isInputError(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    (err instanceof ProvenantError &&
      (err.code === 'INVALID_REFERENCE' ||
        err.code === 'INVALID_POLICY' ||
        err.code === 'TRUST_ROOT_INVALID'))
  );
}
