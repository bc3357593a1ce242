import type { ProvenanceFacts } from './provenance.js';
import type { AttestationSigner, CompiledBuilder, GithubInstance } from './types.js';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';
/** buildType of GitHub artifact attestations (actions/attest-build-provenance). */
export const GITHUB_WORKFLOW_BUILD_TYPE = 'https://actions.github.io/buildtypes/workflow/v1';

const GENERATOR_WORKFLOWS = 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/';
/**
 * slsa-github-generator reusable workflows whose certificate SAN is the builder.id itself
 * (slsa-verifier verifiers/internal/gha/builder.go and slsaprovenance/common/builders.go). The BYOB
 * delegators are apart (BYOB_DELEGATORS): their provenance names the calling tool as builder, not the signer.
 */
const SLSA_GITHUB_GENERATOR_BUILDERS = new Set(
  [
    'generator_container_slsa3.yml',
    'generator_generic_slsa3.yml',
    'builder_go_slsa3.yml',
    'builder_container-based_slsa3.yml',
    'builder_docker-based_slsa3.yml',
  ].map((file) => GENERATOR_WORKFLOWS + file),
);

/**
 * The Build Your Own Builder (BYOB) framework's delegators (slsa-verifier defaultBYOBReusableWorkflows). A tool's
 * reusable workflow (TRW) calls one; the delegator runs the tool's build in its own job without the signing
 * token, then generates and signs the provenance with its own certificate, naming the TRW as builder.id. The
 * level is what the framework attests (Build L3, at a delegator release tag), whichever tool it delegated for.
 */
const BYOB_DELEGATORS = new Set(
  ['delegator_generic_slsa3.yml', 'delegator_lowperms-generic_slsa3.yml'].map(
    (file) => GENERATOR_WORKFLOWS + file,
  ),
);

// slsa-verifier IsValidBuilderTag: exactly vMAJOR.MINOR.PATCH, no pre-release or build metadata, because
// only release tags of the generator are immutable and reviewed.
const RELEASE_TAG = /^refs\/tags\/v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

const GITHUB_COM: GithubInstance = { issuer: GITHUB_ACTIONS_ISSUER, url: 'https://github.com' };

/** `URL/OWNER/REPO/.github/workflows/FILE@REF` on the instance at `url`. */
function isWorkflowId(id: string, url: string): boolean {
  if (!id.startsWith(`${url}/`)) return false;
  return /^[^/]+\/[^/]+\/\.github\/workflows\/[^@]+@.+$/.test(id.slice(url.length + 1));
}

/**
 * `URL/OWNER/REPO/.github/workflows/…`, at a ref or not: a builder.id only that instance's Actions may claim.
 * A key dropping the `@ref` would otherwise pass as an unknown builder that a policy's glob without `@` rates.
 */
function namesInstanceWorkflow(id: string, url: string): boolean {
  // Loosely (any case, any place in the path), as a glob such as `URL/acme/**` may match such spellings too.
  const lower = id.toLowerCase();
  return lower.startsWith(`${url.toLowerCase()}/`) && lower.includes('/.github/workflows/');
}

export type BuilderRating =
  | { readonly ok: true; readonly level: number; readonly basis: string }
  | { readonly ok: false; readonly message: string };

/**
 * Looks up the SLSA Build level of a provenance by (signer identity, builder.id), as SLSA's
 * verifying-artifacts procedure describes: the claimed builder must be the one that signed; known builders
 * get their level, unknown ones level 1; `builders` (when the policy sets it) is the list of builders accepted.
 */
export function rateBuilder(
  facts: ProvenanceFacts,
  signer: AttestationSigner,
  builders: readonly CompiledBuilder[] | undefined,
  enterprise: readonly GithubInstance[] = [],
): BuilderRating {
  const instances = [GITHUB_COM, ...enterprise];
  const github = githubInstanceOf(signer, instances);
  const disagreement = identityDisagreement(facts.builderId, signer, github, instances);
  if (disagreement !== undefined) return { ok: false, message: disagreement };

  const builtIn = builtInRating(facts, signer, github);
  if (builders === undefined) return { ok: true, ...builtIn };

  const named = builders.filter((b) => matchesBuilder(b, facts.builderId));
  if (named.length === 0) {
    return {
      ok: false,
      message: `builder ${facts.builderId} is not one this requirement accepts (builders: ${builders
        .map((b) => b.id.source)
        .join(', ')})`,
    };
  }
  // builder.id is the signer's claim: an entry counts only for provenance its authorities signed.
  const entry = named.find((b) => b.authorities === undefined || b.authorities.includes(signer.authority));
  if (entry === undefined) {
    return {
      ok: false,
      message: `provenance in the name of builder ${facts.builderId} signed by authority ${signer.authority}; that builder is accepted from ${[
        ...new Set(named.flatMap((b) => b.authorities ?? [])),
      ].join(', ')}`,
    };
  }
  if (entry.level === undefined) return { ok: true, ...builtIn };
  if (entry.levelWithheld === true) {
    return {
      ok: true,
      level: builtIn.level,
      basis: `${builtIn.basis}; slsa.builders lists ${entry.id.source} at level ${entry.level} without naming which of the requirement's authorities sign as it, so that level is not granted`,
    };
  }
  return { ok: true, ...capPolicyLevel(entry.level, entry.id.source, signer, github) };
}

/** A glob without `@` names a builder at any ref, as slsa-verifier's bare --builder-id does. */
export function matchesBuilder(builder: CompiledBuilder, builderId: string): boolean {
  if (builder.id.source.includes('@')) return builder.id.test(builderId);
  const at = builderId.lastIndexOf('@');
  return builder.id.test(at === -1 ? builderId : builderId.slice(0, at));
}

/** The GitHub instance whose Actions issued the signer's certificate, if any. */
function githubInstanceOf(
  signer: AttestationSigner,
  instances: readonly GithubInstance[],
): GithubInstance | undefined {
  if (signer.certificate === undefined) return undefined;
  return instances.find((i) => i.issuer === signer.issuer);
}

/**
 * GitHub Actions certificates name the workflow that ran (SAN = https://github.com/<job_workflow_ref>), and
 * both slsa-github-generator and GitHub artifact attestations set builder.id to exactly that. Anything else
 * is a workflow claiming to be another builder (the bcr wrong-signer fixture does this).
 */
function identityDisagreement(
  builderId: string,
  signer: AttestationSigner,
  github: GithubInstance | undefined,
  instances: readonly GithubInstance[],
): string | undefined {
  if (github !== undefined) {
    if (builderId === signer.identity) return undefined;
    // BYOB: the delegator signs, and names the tool's reusable workflow (a GitHub workflow) as builder.
    if (isByobDelegator(signer, github) && isWorkflowId(builderId, GITHUB_COM.url)) return undefined;
    return `provenance claims builder ${builderId}, but it was signed by the GitHub workflow ${signer.identity}`;
  }
  if (instances.some((i) => namesInstanceWorkflow(builderId, i.url))) {
    return `provenance claims the GitHub workflow builder ${builderId}, but it was signed by ${describeSigner(
      signer,
    )}, not by that workflow's GitHub Actions certificate`;
  }
  return undefined;
}

function isByobDelegator(signer: AttestationSigner, github: GithubInstance | undefined): boolean {
  return github === GITHUB_COM && BYOB_DELEGATORS.has(splitRef(signer.identity)[0]);
}

function describeSigner(signer: AttestationSigner): string {
  return signer.issuer === undefined ? signer.identity : `${signer.identity} (issuer ${signer.issuer})`;
}

function builtInRating(
  facts: ProvenanceFacts,
  signer: AttestationSigner,
  github: GithubInstance | undefined,
): { level: number; basis: string } {
  if (github === undefined) {
    return {
      level: 1,
      basis: `builder ${facts.builderId} is not a builder Provenant knows; signed by authority ${signer.authority}`,
    };
  }
  if (isByobDelegator(signer, github)) {
    const [delegator, ref] = splitRef(signer.identity);
    const file = delegator.slice(GENERATOR_WORKFLOWS.length);
    if (ref !== undefined && RELEASE_TAG.test(ref)) {
      return {
        level: 3,
        basis: `BYOB: tool workflow ${facts.builderId}, built and attested by the slsa-github-generator delegator ${file} at release tag ${ref}`,
      };
    }
    return {
      level: 1,
      basis: `BYOB delegator ${file} at ${ref ?? 'no ref'}, not a vX.Y.Z release tag`,
    };
  }
  const [workflow, ref] = splitRef(facts.builderId);
  if (github === GITHUB_COM && SLSA_GITHUB_GENERATOR_BUILDERS.has(workflow)) {
    if (ref !== undefined && RELEASE_TAG.test(ref)) {
      return { level: 3, basis: `slsa-github-generator reusable workflow at release tag ${ref}` };
    }
    return {
      level: 1,
      basis: `slsa-github-generator at ${ref ?? 'no ref'}, not a vX.Y.Z release tag`,
    };
  }
  if (facts.buildType === GITHUB_WORKFLOW_BUILD_TYPE) {
    const where = github === GITHUB_COM ? '' : ` from ${github.url}`;
    return {
      level: 2,
      basis: `GitHub artifact attestation${where}; L3 needs an allow-listed reusable workflow in slsa.builders`,
    };
  }
  return { level: 1, basis: `GitHub workflow ${workflow} is not a known SLSA builder` };
}

/**
 * A policy may trust a builder at a level, but a GitHub workflow that attests its own run (signer = the
 * top-level workflow, Fulcio .9 = .18) lets user-defined steps reach the signing token: that is Build L2
 * at most, however the policy rates it. L3 also needs a GitHub-hosted runner (formats.md §4.6).
 */
function capPolicyLevel(
  level: number,
  glob: string,
  signer: AttestationSigner,
  github: GithubInstance | undefined,
): { level: number; basis: string } {
  const listed = `listed in slsa.builders as ${glob} at level ${level}`;
  if (level < 3 || github === undefined) return { level, basis: listed };
  const cert = signer.certificate ?? {};
  const signerWorkflow = splitRef(cert.buildSignerURI ?? signer.identity)[0];
  const caller = cert.buildConfigURI;
  if (caller === undefined || splitRef(caller)[0] === signerWorkflow) {
    return {
      level: 2,
      basis: `${listed}, but it is not a reusable workflow called by another workflow (Build Signer URI ${signerWorkflow}, Build Config URI ${caller ?? 'absent'}): L2 at most`,
    };
  }
  // A certificate without Runner Environment (.11), which Fulcio leaves out when the token has no
  // runner_environment claim, does not show a GitHub-hosted runner either.
  if (cert.runnerEnvironment !== 'github-hosted') {
    const where =
      cert.runnerEnvironment === undefined
        ? 'its certificate does not say it ran on a GitHub-hosted runner'
        : `it ran on a ${cert.runnerEnvironment} runner`;
    return { level: 2, basis: `${listed}, but ${where}: L2 at most` };
  }
  return { level, basis: `${listed}; reusable workflow called by ${caller}` };
}

function splitRef(id: string): [string, string | undefined] {
  const at = id.lastIndexOf('@');
  return at === -1 ? [id, undefined] : [id.slice(0, at), id.slice(at + 1)];
}
