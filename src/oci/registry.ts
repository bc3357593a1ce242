import type { CredentialStore } from './auth.js';
import type { Repository } from './reference.js';

/** A manifest exactly as the registry served it: the digest is sha256 of these bytes, never of re-serialised JSON. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

export interface RequestOptions {
  /** Aborts the request (and any retry wait) when the admission deadline passes. */
  readonly signal?: AbortSignal;
  /**
   * Credentials for this request only (a workload's pull secrets, looked up by registry host and repository
   * path), preferred over the client's own; a registry they do not cover falls back to those.
   */
  readonly credentials?: CredentialStore;
}

export interface ManifestRequestOptions extends RequestOptions {
  /**
   * Refuse a body longer than this (never more than the client's own manifest limit): a manifest a
   * descriptor lists is exactly the size it declares, or its digest cannot match.
   */
  readonly maxBytes?: number;
}

/**
 * The registry port. The core only ever sees this interface; `HttpRegistry` implements it over undici.
 * Every method throws `ProvenantError` with REGISTRY_UNAVAILABLE, REGISTRY_AUTH_FAILED,
 * REGISTRY_RESPONSE_INVALID or TIMEOUT; "does not exist" is a value (null), not an error.
 */
export interface Registry {
  /**
   * GET a manifest by tag or digest, sending every manifest media type in Accept. When `reference` is a
   * digest the body's hash must equal it. Returns null on 404.
   */
  getManifest(
    repo: Repository,
    reference: string,
    options?: ManifestRequestOptions,
  ): Promise<FetchedManifest | null>;
  /** HEAD a manifest to learn its digest without downloading it; null on 404. */
  headManifest(repo: Repository, reference: string, options?: RequestOptions): Promise<string | null>;
  /** GET a blob, checking its digest and refusing anything larger than `maxBytes`. */
  getBlob(repo: Repository, digest: string, maxBytes: number, options?: RequestOptions): Promise<Uint8Array>;
  /**
   * OCI 1.1 referrers API: the raw image index listing referrers of `digest` (all pages merged).
   * Returns null when the registry does not support the API (404, 400, 406, or a non-index answer), so
   * the caller falls back to the referrers tag schema.
   */
  getReferrers(
    repo: Repository,
    digest: string,
    options?: RequestOptions,
  ): Promise<ReferrerDescriptor[] | null>;
  /**
   * What recent answers said about the referrers API for this repository, so discovery can skip the route
   * that cannot help (`unknown`: ask both, at once). Absent means `unknown`.
   */
  referrersSupport?(repo: Repository): ReferrersSupport;
}

export type ReferrersSupport = 'supported' | 'unsupported' | 'unknown';

export interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}
