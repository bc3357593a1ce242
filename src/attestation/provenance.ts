import { asObject, at, stringAt } from './json.js';
import { SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1 } from './predicate-type.js';
import { githubRepositoryFromSlug, httpsOrigin, normaliseRepository, parseGitUri } from './repository.js';
import type { AttestationSigner, InTotoStatement } from './types.js';

/** One place that names the source of a build: a provenance field or a certificate extension. */
export interface SourceClaim {
  /** Where it was read, for messages (`invocation.configSource.uri`, `certificate Source Repository URI`). */
  readonly field: string;
  readonly repository?: string;
  readonly ref?: string;
  readonly commit?: string;
}

/** What SLSA evaluation needs from a provenance predicate, read the same way for v0.2 and v1. */
export interface ProvenanceFacts {
  readonly version: 'v0.2' | 'v1';
  readonly builderId: string;
  readonly buildType?: string;
  readonly sources: readonly SourceClaim[];
}

/** Reads builder and source claims from a v0.2 or v1 predicate; a string is why it cannot be used. */
export function readProvenance(statement: InTotoStatement): ProvenanceFacts | string {
  const predicate = asObject(statement.predicate);
  if (predicate === undefined) return 'the statement has no predicate object';
  switch (statement.predicateType) {
    case SLSA_PROVENANCE_V02:
      return readV02(predicate);
    case SLSA_PROVENANCE_V1:
      return readV1(predicate);
    default:
      return `predicate type ${statement.predicateType} is not SLSA provenance`;
  }
}

function readV02(predicate: Readonly<Record<string, unknown>>): ProvenanceFacts | string {
  const builderId = stringAt(predicate, 'builder', 'id');
  if (builderId === undefined) return 'the v0.2 provenance has no builder.id';
  const buildType = stringAt(predicate, 'buildType');
  const sources: SourceClaim[] = [];
  const configUri = stringAt(predicate, 'invocation', 'configSource', 'uri');
  if (configUri !== undefined) {
    sources.push({
      field: 'invocation.configSource',
      ...parseGitUri(configUri),
      ...commit(at(predicate, 'invocation', 'configSource', 'digest')),
    });
  }
  // slsa-github-generator records the trigger in the environment too (slsa-verifier reads the ref from here).
  const githubRef = stringAt(predicate, 'invocation', 'environment', 'github_ref');
  const githubSha = stringAt(predicate, 'invocation', 'environment', 'github_sha1');
  if (githubRef !== undefined || githubSha !== undefined) {
    sources.push({
      field: 'invocation.environment',
      ...(githubRef !== undefined ? { ref: githubRef } : {}),
      ...(githubSha !== undefined ? { commit: githubSha.toLowerCase() } : {}),
    });
  }
  const materials = at(predicate, 'materials');
  const first = Array.isArray(materials) ? materials[0] : undefined;
  const materialUri = stringAt(first, 'uri');
  if (materialUri?.startsWith('git+')) {
    sources.push({ field: 'materials[0]', ...parseGitUri(materialUri), ...commit(at(first, 'digest')) });
  }
  return { version: 'v0.2', builderId, ...(buildType !== undefined ? { buildType } : {}), sources };
}

function readV1(predicate: Readonly<Record<string, unknown>>): ProvenanceFacts | string {
  const builderId = stringAt(predicate, 'runDetails', 'builder', 'id');
  if (builderId === undefined) return 'the v1 provenance has no runDetails.builder.id';
  const buildType = stringAt(predicate, 'buildDefinition', 'buildType');
  const external = at(predicate, 'buildDefinition', 'externalParameters');
  const sources: SourceClaim[] = [];
  // GitHub artifact attestations and slsa-github-generator's v1 builders name the triggering workflow here.
  const workflowRepo = stringAt(external, 'workflow', 'repository');
  const workflowRef = stringAt(external, 'workflow', 'ref');
  if (workflowRepo !== undefined || workflowRef !== undefined) {
    const repository = workflowRepo === undefined ? undefined : normaliseRepository(workflowRepo);
    sources.push({
      field: 'externalParameters.workflow',
      ...(repository !== undefined ? { repository } : {}),
      ...(workflowRef !== undefined ? { ref: workflowRef } : {}),
    });
  }
  const sourceParam = at(external, 'source');
  const sourceUri = typeof sourceParam === 'string' ? sourceParam : stringAt(sourceParam, 'uri');
  if (sourceUri?.startsWith('git+')) {
    sources.push({
      field: 'externalParameters.source',
      ...parseGitUri(sourceUri),
      ...commit(at(sourceParam, 'digest')),
    });
  }
  // The first resolved dependency is the source checkout for the GitHub builders; later ones are tools and
  // base images, which must not be mistaken for the source.
  const deps = at(predicate, 'buildDefinition', 'resolvedDependencies');
  const first = Array.isArray(deps) ? deps[0] : undefined;
  const depUri = stringAt(first, 'uri');
  if (depUri?.startsWith('git+')) {
    sources.push({
      field: 'resolvedDependencies[0]',
      ...parseGitUri(depUri),
      ...commit(at(first, 'digest')),
    });
  }
  return { version: 'v1', builderId, ...(buildType !== undefined ? { buildType } : {}), sources };
}

function commit(digest: unknown): { commit?: string } {
  const value = stringAt(digest, 'gitCommit') ?? stringAt(digest, 'sha1');
  return value === undefined ? {} : { commit: value.toLowerCase() };
}

/**
 * Source claims of a Fulcio certificate: authenticated by the OIDC token, unlike the provenance's own.
 * Both the v2 extensions and the deprecated v1 ones are returned, so that a disagreement between them
 * shows up as a mismatch (slsa-verifier requires them to agree as well).
 */
export function certificateSources(signer: AttestationSigner): SourceClaim[] {
  const cert = signer.certificate;
  if (cert === undefined) return [];
  const claims: SourceClaim[] = [];
  const v2Repo =
    cert.sourceRepositoryURI === undefined ? undefined : normaliseRepository(cert.sourceRepositoryURI);
  if (
    v2Repo !== undefined ||
    cert.sourceRepositoryRef !== undefined ||
    cert.sourceRepositoryDigest !== undefined
  ) {
    claims.push({
      field: 'certificate source repository extensions',
      ...(v2Repo !== undefined ? { repository: v2Repo } : {}),
      ...(cert.sourceRepositoryRef !== undefined ? { ref: cert.sourceRepositoryRef } : {}),
      ...(cert.sourceRepositoryDigest !== undefined
        ? { commit: cert.sourceRepositoryDigest.toLowerCase() }
        : {}),
    });
  }
  const v1Repo =
    cert.githubWorkflowRepository === undefined
      ? undefined
      : githubRepositoryFromSlug(
          cert.githubWorkflowRepository,
          // The slug is relative to the GitHub instance that issued the token: the certificate's own host.
          httpsOrigin(cert.sourceRepositoryURI) ?? httpsOrigin(signer.identity),
        );
  if (v1Repo !== undefined || cert.githubWorkflowRef !== undefined || cert.githubWorkflowSHA !== undefined) {
    claims.push({
      field: 'certificate GitHub workflow extensions',
      ...(v1Repo !== undefined ? { repository: v1Repo } : {}),
      ...(cert.githubWorkflowRef !== undefined ? { ref: cert.githubWorkflowRef } : {}),
      ...(cert.githubWorkflowSHA !== undefined ? { commit: cert.githubWorkflowSHA.toLowerCase() } : {}),
    });
  }
  return claims;
}
