import { fixtureJson } from './fixtures.js';

/**
 * One case of the interop corpus (test/fixtures/interop/cases.json): a real bundle from another Sigstore
 * client's tests, what it is checked against (artifact or digest, identity or key, trusted root), and the
 * outcome its source expects.
 */
export interface InteropCase {
  readonly id: string;
  readonly classes: readonly string[];
  readonly bundle: string;
  readonly artifact?: string;
  readonly digest?: string;
  readonly identity?: string;
  readonly issuer?: string;
  readonly key?: string;
  readonly trustedRoot: string;
  readonly cosignArgs?: readonly string[];
  readonly expected: 'pass' | 'fail';
  readonly expectationSource: string;
}

export function interopCases(): InteropCase[] {
  return fixtureJson<{ cases: InteropCase[] }>('interop/cases.json').cases;
}
