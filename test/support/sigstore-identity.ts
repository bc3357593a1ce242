/**
 * Signer identities for the private Sigstore, and how they travel: as an OIDC identity token that the test
 * Fulcio turns into a certificate, exactly as a real client (@sigstore/sign or cosign) would send it.
 *
 * The token is never verified by the test Fulcio, but cosign 2 parses it with go-jose before sending it and
 * refuses `alg: none` ("unexpected signature algorithm"), so tokens are ES256-signed with a throwaway key.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  encodeFulcioExtension,
  FULCIO_OIDS,
  type FulcioExtensionName,
  type LeafExtension,
} from './sigstore-ca.js';

/**
 * Private claim carrying test-only certificate controls. Real Fulcio ignores unknown claims; ours reads it so
 * the same token works from @sigstore/sign and from cosign.
 */
export const CERTIFICATE_CONTROL_CLAIM = 'https://provenant.test/certificate';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

export type ClaimValue = string | number | boolean;

export interface SigstoreIdentity {
  /** OIDC issuer; becomes the issuer extensions (`.1` raw and `.8` UTF8String). */
  issuer: string;
  /**
   * The certificate's only SAN. An address like `alice@example.com` gives an rfc822Name (email) SAN, as Fulcio
   * does for email issuers; anything else a URI SAN.
   */
  subject: string;
  /**
   * Further token claims. GitHub Actions claims (`repository`, `ref`, `sha`, `job_workflow_ref`,
   * `workflow_ref`, `runner_environment`, …) become Fulcio extensions the way Fulcio maps them; see
   * `extensionsFromClaims`.
   */
  claims?: Record<string, ClaimValue>;
  /**
   * Extensions to set (string) or drop (null) after the claim mapping, keyed by `FULCIO_OIDS` name or dotted OID.
   * For "wrong extension value" material and for OIDs no claim produces (e.g. `tokenSubject`, `.24`).
   */
  extensions?: Partial<Record<FulcioExtensionName, string | null>> & Record<string, string | null>;
  /** Leaf validity. Default: Fulcio's ten minutes from the time of issue. Back-date it for expired material. */
  validity?: { notBefore: Date; notAfter: Date };
}

/** What the test Fulcio reads from the control claim. Times are Unix seconds, like JWT times. */
interface CertificateControl {
  extensions?: Record<string, string | null>;
  notBefore?: number;
  notAfter?: number;
}

export interface GitHubActionsIdentityOptions {
  /** `owner/repo`. */
  repository: string;
  /** Workflow file path in the repository, e.g. `.github/workflows/build.yml`. */
  workflow?: string;
  /** Git ref the workflow ran for, e.g. `refs/heads/main` or `refs/tags/v1.0.0`. */
  ref?: string;
  sha?: string;
  eventName?: string;
  runnerEnvironment?: 'github-hosted' | 'self-hosted';
  visibility?: 'public' | 'private' | 'internal';
  /**
   * A reusable workflow that did the signing, as `owner/repo/.github/workflows/x.yml@ref`. The SAN and build
   * signer URI then name it, while the build config URI still names the calling workflow (Fulcio's behaviour).
   */
  jobWorkflowRef?: string;
  runId?: string;
  runAttempt?: string;
}

/**
 * An identity shaped like a GitHub Actions workflow run: SAN `https://github.com/<job_workflow_ref>`, issuer
 * `https://token.actions.githubusercontent.com`, and the claims Fulcio turns into `.9`–`.22`.
 */
export function githubActionsIdentity(options: GitHubActionsIdentityOptions): SigstoreIdentity {
  const workflow = options.workflow ?? '.github/workflows/build.yml';
  const ref = options.ref ?? 'refs/heads/main';
  const sha = options.sha ?? 'a'.repeat(40);
  const owner = options.repository.split('/')[0] ?? options.repository;
  const workflowRef = `${options.repository}/${workflow}@${ref}`;
  const jobWorkflowRef = options.jobWorkflowRef ?? workflowRef;
  return {
    issuer: GITHUB_ACTIONS_ISSUER,
    subject: `https://github.com/${jobWorkflowRef}`,
    claims: {
      repository: options.repository,
      repository_owner: owner,
      repository_id: '123456',
      repository_owner_id: '654321',
      repository_visibility: options.visibility ?? 'public',
      ref,
      sha,
      workflow: workflow.split('/').pop() ?? workflow,
      workflow_ref: workflowRef,
      workflow_sha: sha,
      job_workflow_ref: jobWorkflowRef,
      job_workflow_sha: sha,
      event_name: options.eventName ?? 'push',
      runner_environment: options.runnerEnvironment ?? 'github-hosted',
      run_id: options.runId ?? '1000',
      run_attempt: options.runAttempt ?? '1',
    },
  };
}

let tokenKey: KeyObject | undefined;

/** An ES256 JWT for the identity. Its `iss`/`sub` become the certificate issuer and SAN. */
export function identityToken(identity: SigstoreIdentity): string {
  const now = Math.floor(Date.now() / 1000);
  const control: CertificateControl = {};
  if (identity.extensions) control.extensions = identity.extensions;
  if (identity.validity) {
    control.notBefore = Math.floor(identity.validity.notBefore.getTime() / 1000);
    control.notAfter = Math.floor(identity.validity.notAfter.getTime() / 1000);
  }
  const payload: Record<string, unknown> = {
    ...identity.claims,
    iss: identity.issuer,
    sub: identity.subject,
    aud: 'sigstore',
    iat: now,
    nbf: now - 60,
    exp: now + 3600,
  };
  if (isEmailSubject(identity.subject)) {
    payload['email'] = identity.subject;
    payload['email_verified'] = true;
  }
  if (Object.keys(control).length > 0) payload[CERTIFICATE_CONTROL_CLAIM] = control;

  tokenKey ??= generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const signingInput = `${base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'test' }))}.${base64url(
    JSON.stringify(payload),
  )}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: tokenKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Everything the test Fulcio needs from a token to issue a leaf. */
export interface CertificateProfile {
  subjectAltName: { type: 'uri' | 'email'; value: string };
  extensions: LeafExtension[];
  notBefore?: Date;
  notAfter?: Date;
}

/** Server side: decodes the (unverified) token and derives the leaf's contents from its claims. */
export function certificateProfileFromToken(token: string): CertificateProfile {
  const payloadPart = token.split('.')[1];
  if (payloadPart === undefined) throw new Error('identity token is not a JWT');
  const claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const subject = typeof claims['sub'] === 'string' ? claims['sub'] : 'NO-SUBJECT';
  const control = (claims[CERTIFICATE_CONTROL_CLAIM] ?? {}) as CertificateControl;

  const values = new Map<string, string>(extensionsFromClaims(claims));
  for (const [key, value] of Object.entries(control.extensions ?? {})) {
    const oid = key in FULCIO_OIDS ? FULCIO_OIDS[key as FulcioExtensionName] : key;
    if (value === null) values.delete(oid);
    else values.set(oid, value);
  }
  const profile: CertificateProfile = {
    subjectAltName: { type: isEmailSubject(subject) ? 'email' : 'uri', value: subject },
    extensions: [...values].map(([oid, value]) => ({ oid, value: encodeFulcioExtension(oid, value) })),
  };
  if (control.notBefore !== undefined) profile.notBefore = new Date(control.notBefore * 1000);
  if (control.notAfter !== undefined) profile.notAfter = new Date(control.notAfter * 1000);
  return profile;
}

/**
 * Fulcio's claim → extension mapping for GitHub Actions tokens (sigstore/fulcio `pkg/identity/github/principal.go`),
 * which is also what @sigstore/mock's Fulcio does, plus `environment` (`.23`). Applied to any issuer, since the
 * test Fulcio has no per-issuer configuration: a token without these claims gets only the issuer extensions.
 */
export function extensionsFromClaims(claims: Record<string, unknown>): Array<[string, string]> {
  const str = (name: string): string | undefined => {
    const v = claims[name];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
  };
  const server = str('server_url') ?? 'https://github.com';
  const out: Array<[string, string]> = [];
  const add = (name: FulcioExtensionName, value: string | undefined): void => {
    if (value !== undefined) out.push([FULCIO_OIDS[name], value]);
  };
  const url = (value: string | undefined): string | undefined =>
    value === undefined ? undefined : `${server}/${value}`;

  add('issuerV1', str('iss'));
  add('issuer', str('iss'));
  add('githubWorkflowTrigger', str('event_name'));
  add('githubWorkflowSha', str('sha'));
  add('githubWorkflowName', str('workflow'));
  add('githubWorkflowRepository', str('repository'));
  add('githubWorkflowRef', str('ref'));
  add('buildSignerURI', url(str('job_workflow_ref')));
  add('buildSignerDigest', str('job_workflow_sha'));
  add('runnerEnvironment', str('runner_environment'));
  add('sourceRepositoryURI', url(str('repository')));
  add('sourceRepositoryDigest', str('sha'));
  add('sourceRepositoryRef', str('ref'));
  add('sourceRepositoryIdentifier', str('repository_id'));
  add('sourceRepositoryOwnerURI', url(str('repository_owner')));
  add('sourceRepositoryOwnerIdentifier', str('repository_owner_id'));
  add('buildConfigURI', url(str('workflow_ref')));
  add('buildConfigDigest', str('workflow_sha'));
  add('buildTrigger', str('event_name'));
  const repository = str('repository');
  const runId = str('run_id');
  const runAttempt = str('run_attempt');
  if (repository !== undefined && runId !== undefined && runAttempt !== undefined) {
    add('runInvocationURI', `${server}/${repository}/actions/runs/${runId}/attempts/${runAttempt}`);
  }
  add('sourceRepositoryVisibilityAtSigning', str('repository_visibility'));
  add('deploymentEnvironment', str('environment'));
  return out;
}

function isEmailSubject(subject: string): boolean {
  return /^[^\s@/:]+@[^\s@/:]+$/.test(subject);
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
