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
