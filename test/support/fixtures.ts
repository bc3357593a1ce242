import { readFileSync } from 'node:fs';
import type { SignatureEvidence } from '../../src/verify/types.js';

/** Reads fixtures for unit tests (src/verify is pure, so file access lives here). Paths are under test/fixtures/. */
const ROOT = new URL('../fixtures/', import.meta.url);

export function fixtureBytes(path: string): Buffer {
  return readFileSync(new URL(path, ROOT));
}

export function fixtureText(path: string): string {
  return readFileSync(new URL(path, ROOT), 'utf8');
}

export function fixtureJson<T = unknown>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}

interface SigManifest {
  readonly layers: readonly { readonly digest: string; readonly annotations?: Record<string, string> }[];
}

/**
 * The layers of a legacy `.sig` manifest as evidence, the way discovery hands them over: each layer's blob is
 * the simple-signing payload (every layer of these fixtures shares one payload blob, given as `payloadPath`).
 */
export function legacyLayers(manifestPath: string, payloadPath: string): SignatureEvidence[] {
  const manifest = fixtureJson<SigManifest>(manifestPath);
  const payload = fixtureBytes(payloadPath);
  return manifest.layers.map((layer, i) => ({
    kind: 'cosign-simple-signing',
    source: `${manifestPath}#layers[${i}]`,
    payload,
    annotations: layer.annotations ?? {},
  }));
}

export function bundleEvidence(path: string): SignatureEvidence {
  return { kind: 'sigstore-bundle', source: path, bundle: fixtureBytes(path) };
}

/** One case of real/expectations.json (only the fields the verify tests read). */
export interface ExpectationCase {
  readonly id: string;
  readonly type: string;
  readonly expected: 'pass' | 'fail';
  readonly bundle?: string;
  readonly artifact?: string;
  readonly subjectDigest?: { readonly sha256: string };
  readonly publicKey?: string;
  readonly sigManifest?: string;
  readonly payload?: string;
  readonly imageRef?: string;
  readonly trustedRoot?: string;
  readonly alsoPassesWith?: readonly string[];
  readonly verifierOptions?: { tlogThreshold: number; ctlogThreshold: number; timestampThreshold: number };
  readonly policy?: Readonly<Record<string, unknown>>;
}

export function expectationCases(): ExpectationCase[] {
  return fixtureJson<{ cases: ExpectationCase[] }>('real/expectations.json').cases;
}
