import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../oci/digest.js';
import { digestTag } from '../oci/discover.js';
import { parseSimpleSigning, predictedSimpleSigningPayload } from './simple-signing.js';

// Real payloads that cosign wrote (test/fixtures/real/SOURCES.md §3), named by their own digest.
const LEGACY = new URL('../../test/fixtures/real/cosign-legacy/', import.meta.url);

async function realPayloads(): Promise<{ file: string; bytes: Buffer }[]> {
  const found: { file: string; bytes: Buffer }[] = [];
  for (const dir of await readdir(LEGACY)) {
    for (const file of await readdir(new URL(`${dir}/`, LEGACY))) {
      if (file.startsWith('simplesigning-payload.')) {
        found.push({ file, bytes: await readFile(new URL(`${dir}/${file}`, LEGACY)) });
      }
    }
  }
  return found;
}

describe('predictedSimpleSigningPayload', () => {
  it('is byte for byte the payload cosign wrote, for every real one in the fixtures', async () => {
    const payloads = await realPayloads();
    expect(payloads.length).toBeGreaterThanOrEqual(3);
    for (const { file, bytes } of payloads) {
      const claim = parseSimpleSigning(bytes);
      if (typeof claim === 'string') throw new Error(claim);
      // The fixtures are Docker Hub images; the prediction starts from the repository as Provenant parses it.
      const path = claim.dockerReference?.replace(/^index\.docker\.io\//, '') ?? '';
      const predicted = predictedSimpleSigningPayload(
        { registry: 'docker.io', path },
        claim.dockerManifestDigest,
      );
      expect(Buffer.from(predicted).toString(), file).toBe(bytes.toString());
      expect(`simplesigning-payload.${digestTag(digestOf(predicted))}.json`).toBe(file);
    }
  });

  it('names other registries as they are spelled, with the port', () => {
    const predicted = predictedSimpleSigningPayload(
      { registry: 'localhost:5000', path: 'team/app' },
      `sha256:${'0'.repeat(64)}`,
    );
    const claim = parseSimpleSigning(predicted);
    expect(claim).toEqual({
      type: 'cosign container image signature',
      dockerManifestDigest: `sha256:${'0'.repeat(64)}`,
      dockerReference: 'localhost:5000/team/app',
    });
  });
});

describe('parseSimpleSigning with keys cosign reads otherwise', () => {
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  const payload = (critical: string, outer = '') =>
    new TextEncoder().encode(
      `{"critical":{"identity":{"docker-reference":"r.example/app"},${critical},"type":"cosign container image signature"}${outer},"optional":null}`,
    );

  it('reads the exact keys', () => {
    expect(parseSimpleSigning(payload(`"image":{"docker-manifest-digest":"${a}"}`))).toMatchObject({
      dockerManifestDigest: a,
    });
  });

  // Go's encoding/json matches these to the same fields as the exact keys (Unicode simple folding).
  it.each([
    [
      'a second image in another case',
      `"image":{"docker-manifest-digest":"${a}"},"Image":{"docker-manifest-digest":"${b}"}`,
      '',
      'Image',
    ],
    ['only a capitalised image', `"IMAGE":{"docker-manifest-digest":"${a}"}`, '', 'IMAGE'],
    [
      'a digest key in another case',
      `"image":{"docker-manifest-digest":"${a}","Docker-Manifest-Digest":"${b}"}`,
      '',
      'Docker-Manifest-Digest',
    ],
    [
      'a Kelvin sign for k',
      `"image":{"docker-manifest-digest":"${a}","doc\u212aer-manifest-digest":"${b}"}`,
      '',
      'doc\u212aer-manifest-digest',
    ],
    [
      'a long s for s',
      `"image":{"docker-manifest-digest":"${a}","docker-manife\u017ft-digest":"${b}"}`,
      '',
      'docker-manife\u017ft-digest',
    ],
    ['a type in another case', `"image":{"docker-manifest-digest":"${a}"},"Type":"other"`, '', 'Type'],
    [
      'an identity in another case',
      `"image":{"docker-manifest-digest":"${a}"},"Identity":{}`,
      '',
      'Identity',
    ],
    [
      'a second critical',
      `"image":{"docker-manifest-digest":"${a}"}`,
      `,"Critical":{"image":{"docker-manifest-digest":"${b}"}}`,
      'Critical',
    ],
  ])('refuses %s', (_what, critical, outer, key) => {
    expect(parseSimpleSigning(payload(critical, outer))).toBe(
      `payload is ambiguous: key ${JSON.stringify(key)} is read as "${key
        .replace(/\u212a/g, 'k')
        .replace(/\u017f/g, 's')
        .toLowerCase()}" by cosign (Go's encoding/json)`,
    );
  });

  it('leaves other keys alone, whatever their case', () => {
    expect(
      parseSimpleSigning(payload(`"image":{"docker-manifest-digest":"${a}"},"Images":{},"İmage":{}`)),
    ).toMatchObject({ dockerManifestDigest: a });
  });
});
