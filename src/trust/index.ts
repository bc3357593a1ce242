export { parseTrustedRoot } from './trusted-root.js';
export {
  GITHUB,
  PUBLIC_GOOD,
  buildTrustRoot,
  createTrustStore,
  type CustomTrustRoot,
  type TrustRoot,
  type TrustStore,
  type VerifierThresholds,
} from './trust-store.js';
