export { attestationsSchema } from './schema.js';
export { compileAttestationRequirement, compileAttestationRequirements } from './compile.js';
export { evaluateAttestationRequirement } from './evaluate.js';
export { CEL_COST_LIMIT } from './conditions.js';
export {
  PREDICATE_TYPE_ALIASES,
  SLSA_PROVENANCE_V02,
  SLSA_PROVENANCE_V1,
  SLSA_VSA_V1,
} from './predicate-type.js';
export type * from './types.js';
