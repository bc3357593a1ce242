import { ProvenantError } from '../errors.js';
import { digestProblem } from './digest.js';
import { canonicalRegistry, DOCKER_HUB, registryHostProblem, registryPort } from './registry-host.js';

export { DOCKER_HUB } from './registry-host.js';

/** A repository on a registry, normalised as Docker does (`docker.io`, `library/`). */
export interface Repository {
  /**
   * Registry host with optional port in its canonical spelling (canonicalRegistry: lowercase, no `:443`,
   * Docker Hub aliases folded), e.g. `docker.io`, `localhost:5000`, `[::1]:5000`.
   */
  readonly registry: string;
  /** Repository path, e.g. `library/nginx`. */
  readonly path: string;
}

/** A parsed image reference. `digest` wins over `tag` for everything that is verified. */
export interface ImageReference extends Repository {
  readonly tag?: string;
  readonly digest?: string;
  /** The text the user wrote. */
  readonly original: string;
}

const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_PATH_LENGTH = 255;
// Docker sets no overall limit, but no valid reference comes near it (path ≤255, tag ≤128, digest ≤135,
// DNS names ≤253); refusing longer text first keeps hostile input cheap to reject.
const MAX_TEXT_LENGTH = 1024;

// The grammar of distribution/reference (regexp.go), split into the parts we check one at a time so the
// error can say which part is wrong.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const REGISTRY_PATTERN = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const MAX_PORT = 65535;
const PATH_COMPONENT_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_PATTERN = /^\w[\w.-]{0,127}$/;
const IDENTIFIER_PATTERN = /^[a-f0-9]{64}$/;
/**
 * `sha256:812ff0da…`, whole or a prefix: Docker reads it as the Hub image `library/sha256` with a tag, but
 * the kubelet hands the text unchanged to the runtime, and containerd looks it up first as a local image ID
 * (a prefix is enough) and runs whatever image already on the node has that ID, pulling nothing. A
 * repository named after a digest algorithm cannot be told apart from such an ID, so none is accepted.
 */
const IMAGE_ID_PATTERN = /^(?:sha256|sha384|sha512):/;

function invalid(text: string, problem: string): ProvenantError {
  return new ProvenantError('INVALID_REFERENCE', `invalid image reference ${quote(text)}: ${problem}`);
}

/** Quotes untrusted text for a message: bounded length, control and non-ASCII characters escaped. */
function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw invalid(String(text), 'it is not a string');
  if (text === '') throw invalid(text, 'it is empty');
  if (text.length > MAX_TEXT_LENGTH) throw invalid(text, `it is longer than ${MAX_TEXT_LENGTH} characters`);
  const bad = /[^\x21-\x7e]/.exec(text);
  if (bad) {
    throw invalid(
      text,
      `character ${quote(bad[0])} at position ${bad.index} is not allowed (printable ASCII only)`,
    );
  }
}

/**
 * Splits a name (no tag, no digest) into registry and path the way Docker's splitDockerDomain does: the
 * first component is a registry only if it is `localhost`, contains `.` or `:`, or has uppercase letters.
 * The registry is then spelled canonically (canonicalRegistry), so every spelling the kubelet pulls from
 * one place names one registry.
 */
function splitName(text: string, name: string): Repository {
  if (name === '') throw invalid(text, 'the repository name is empty');
  const slash = name.indexOf('/');
  let written = DOCKER_HUB;
  let path = name;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
      written = first;
      path = name.slice(slash + 1);
    }
  }
  // Docker would re-read an invalid host as part of a domain-less path (`a_b.com/x`), a name no registry
  // client can use; we refuse it instead.
  if (!REGISTRY_PATTERN.test(written)) throw invalid(text, `registry host ${quote(written)} is invalid`);
  // The grammar lets `[::::]` and `[1:2:3:4:5:6:7:8:9]` through; a bracketed host must be one address, or
  // it has no one spelling (canonicalRegistry).
  const hostProblem = registryHostProblem(written);
  if (hostProblem !== undefined) throw invalid(text, `registry host ${quote(written)} ${hostProblem}`);
  const port = registryPort(written);
  if (port !== undefined && (port === 0 || port > MAX_PORT)) {
    throw invalid(text, `registry port ${port} is out of range (1 to ${MAX_PORT})`);
  }
  const registry = canonicalRegistry(written);
  if (registry === DOCKER_HUB && !path.includes('/')) path = OFFICIAL_PREFIX + path;

  if (path.toLowerCase() !== path) throw invalid(text, `repository path ${quote(path)} must be lowercase`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_PATTERN.test(component)) {
      throw invalid(
        text,
        component === ''
          ? `repository path ${quote(path)} has an empty component`
          : `repository path component ${quote(component)} is invalid (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      );
    }
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw invalid(text, `repository path is ${path.length} characters long (at most ${MAX_PATH_LENGTH})`);
  }
  return { registry, path };
}

interface Parts {
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

function splitParts(text: string): Parts {
  if (IDENTIFIER_PATTERN.test(text)) {
    throw invalid(text, 'a bare 64-character hex string is an image ID, not a repository name');
  }
  if (IMAGE_ID_PATTERN.test(text)) {
    throw invalid(
      text,
      'it reads as an image ID, not a repository name: the container runtime would run whichever image on the node has that ID, unverified',
    );
  }
  let rest = text;
  let digest: string | undefined;
  const at = text.indexOf('@');
  if (at >= 0) {
    digest = text.slice(at + 1);
    rest = text.slice(0, at);
    const problem = digestProblem(digest);
    if (problem !== undefined) throw invalid(text, `digest ${quote(digest)} ${problem}`);
  }
  // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    const tag = rest.slice(colon + 1);
    if (!TAG_PATTERN.test(tag)) {
      throw invalid(
        text,
        `tag ${quote(tag)} is invalid (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
      );
    }
    return digest === undefined
      ? { name: rest.slice(0, colon), tag }
      : { name: rest.slice(0, colon), tag, digest };
  }
  return digest === undefined ? { name: rest } : { name: rest, digest };
}

/**
 * Parses an image reference as Docker's distribution/reference normalises it: `nginx` →
 * `docker.io/library/nginx:latest`; `latest` only when neither tag nor digest is given; and the registry in
 * its canonical spelling (`index.docker.io`, `registry-1.docker.io` → `docker.io`, `GHCR.IO:443` →
 * `ghcr.io`). Throws INVALID_REFERENCE saying what is wrong.
 */
export function parseReference(text: string): ImageReference {
  checkText(text);
  const { name, tag, digest } = splitParts(text);
  const repo = splitName(text, name);
  if (digest === undefined) return { ...repo, tag: tag ?? DEFAULT_TAG, original: text };
  // With both, the tag is kept for display; the digest is what gets resolved and verified.
  return tag === undefined ? { ...repo, digest, original: text } : { ...repo, tag, digest, original: text };
}

/** Parses `registry/path` (a policy's signature repository, for instance); tags and digests are refused. */
export function parseRepository(text: string): Repository {
  checkText(text);
  const { name, tag, digest } = splitParts(text);
  if (tag !== undefined || digest !== undefined) {
    throw invalid(text, 'a repository must not carry a tag or digest');
  }
  return splitName(text, name);
}

/** Whether `text` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isTag(text: string): boolean {
  return TAG_PATTERN.test(text);
}

/** `registry/path`, e.g. `docker.io/library/nginx`. */
export function repositoryName(repo: Repository): string {
  return `${repo.registry}/${repo.path}`;
}

/** The canonical form `registry/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${repositoryName(ref)}${tag}${digest}`;
}

/** The same reference pinned to `digest`; the tag stays, for display only. */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw invalid(digest, `digest ${problem}`);
  return { ...ref, digest };
}
