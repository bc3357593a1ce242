export { claimedPredicateType, isAttestation, verifyAttestation } from './attestation.js';
export { verifyArtifactBundle, type ArtifactBundleCheck, type ArtifactInput } from './artifact-bundle.js';
export type { CheckFailure } from './check-failure.js';
export { CERTIFICATE_EXTENSION_NAMES } from './fulcio-extensions.js';
export { compileKeyAuthority, type KeyVerifyOptions } from './key-authority.js';
export { compileKeylessAuthority } from './keyless-authority.js';
export {
  describePublicKey,
  parsePublicKeyPem,
  validatePublicKeyPem,
  type ParsedPublicKey,
} from './public-key.js';
export { verifySignature } from './signature.js';
export type * from './types.js';
