/**
 * An in-memory Registry over a real OCI layout (the slsa-github-generator image with its cosign
 * attestations), whose answers a fuzz case bends request by request: bytes flipped or cut, replaced by
 * hostile JSON, or a typed registry failure. It keeps the Registry port's contract (a manifest or blob
 * fetched by digest is checked against it, as HttpRegistry does), so what is fuzzed is what the core does
 * with content an attacker controls, not a registry client that forgot to check digests.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ProvenantError, type ReasonCode } from '../../src/errors.js';
import type { Repository } from '../../src/oci/reference.js';
import type { FetchedManifest, ReferrerDescriptor, Registry } from '../../src/oci/registry.js';
import { hostileJsonText } from './support.js';

const LAYOUT = new URL(
  '../fixtures/real/slsa/slsa-github-generator-container-v2.1.0/oci-layout/',
  import.meta.url,
).pathname;

export const IMAGE_DIGEST = readFileSync(
  new URL('../fixtures/real/slsa/slsa-github-generator-container-v2.1.0/image.digest', import.meta.url),
  'utf8',
).trim();

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Every blob of the layout, by digest. */
export const LAYOUT_BLOBS: ReadonlyMap<string, Uint8Array> = new Map(
  readdirSync(join(LAYOUT, 'blobs', 'sha256')).map((hex) => [
    `sha256:${hex}`,
    readFileSync(join(LAYOUT, 'blobs', 'sha256', hex)),
  ]),
);

const index = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8')) as {
  manifests: { digest: string; annotations?: Record<string, string> }[];
};
const attestations = index.manifests.find((m) => m.annotations?.['kind'] === 'dev.cosignproject.cosign/atts');

/** What one registry answer becomes. */
export type Bend =
  | { readonly kind: 'as-is' }
  | { readonly kind: 'flip'; readonly at: number; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'hostile'; readonly text: string }
  | { readonly kind: 'fail'; readonly code: ReasonCode };

export const bend: fc.Arbitrary<Bend> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'as-is' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('hostile' as const),
      text: fc.oneof(hostileJsonText, fc.json()),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fail' as const),
      code: fc.constantFrom<ReasonCode>(
        'REGISTRY_UNAVAILABLE',
        'REGISTRY_RESPONSE_INVALID',
        'REGISTRY_AUTH_FAILED',
        'TIMEOUT',
      ),
    }),
  },
);

function apply(bytes: Uint8Array, how: Bend): Uint8Array {
  switch (how.kind) {
    case 'as-is':
    case 'fail':
      return bytes;
    case 'flip': {
      const out = Uint8Array.from(bytes);
      if (out.length > 0) out[how.at % out.length] = how.value;
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, how.at % (bytes.length + 1));
    case 'hostile':
      return new TextEncoder().encode(how.text);
  }
}

export class FuzzRegistry implements Registry {
  private next = 0;
  /** Tags the image is known by, and the cosign attestation tag. */
  private readonly tags = new Map<string, string>([['v1', IMAGE_DIGEST]]);

  constructor(private readonly bends: readonly Bend[]) {
    if (attestations !== undefined) {
      this.tags.set(`${IMAGE_DIGEST.replace(':', '-')}.att`, attestations.digest);
    }
  }

  /** The next answer's bend; throws the typed failure a `fail` bend asks for. */
  private take(what: string): Bend {
    const how =
      this.bends.length === 0
        ? { kind: 'as-is' as const }
        : (this.bends[this.next++ % this.bends.length] as Bend);
    if (how.kind === 'fail') throw new ProvenantError(how.code, `fuzzed failure fetching ${what}`);
    return how;
  }

  getManifest(_repo: Repository, reference: string): Promise<FetchedManifest | null> {
    const how = this.take(`manifest ${reference}`);
    const digest = this.tags.get(reference) ?? reference;
    const stored = LAYOUT_BLOBS.get(digest);
    if (stored === undefined) return Promise.resolve(null);
    const bytes = apply(stored, how);
    if (reference.startsWith('sha256:') && sha256(bytes) !== reference) {
      return Promise.reject(
        new ProvenantError('REGISTRY_RESPONSE_INVALID', 'served a manifest whose digest differs'),
      );
    }
    let mediaType = 'application/vnd.oci.image.manifest.v1+json';
    try {
      const declared = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof declared === 'string') mediaType = declared;
    } catch {
      // the core judges unparseable manifests itself
    }
    return Promise.resolve({ digest: sha256(bytes), mediaType, bytes });
  }

  headManifest(_repo: Repository, reference: string): Promise<string | null> {
    this.take(`head ${reference}`);
    return Promise.resolve(this.tags.get(reference) ?? (LAYOUT_BLOBS.has(reference) ? reference : null));
  }

  getBlob(_repo: Repository, digest: string, maxBytes: number): Promise<Uint8Array> {
    const how = this.take(`blob ${digest}`);
    const stored = LAYOUT_BLOBS.get(digest);
    if (stored === undefined) {
      return Promise.reject(new ProvenantError('REGISTRY_RESPONSE_INVALID', 'does not have the blob'));
    }
    const bytes = apply(stored, how);
    if (bytes.length > maxBytes || sha256(bytes) !== digest) {
      return Promise.reject(
        new ProvenantError('REGISTRY_RESPONSE_INVALID', 'served a blob that does not match'),
      );
    }
    return Promise.resolve(bytes);
  }

  getReferrers(): Promise<ReferrerDescriptor[] | null> {
    this.take('referrers');
    return Promise.resolve(null);
  }
}
