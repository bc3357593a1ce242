/**
 * A simple-signing payload whose keys cosign reads otherwise. cosign decodes the payload with Go's
 * encoding/json, which matches keys to struct fields whatever their case and lets the last match win, so a
 * payload stating `"image"` for this image and `"Image"` for another is, to `cosign verify`, a signature for
 * the other one. Real cosign 2 signs the payload (`sign-blob`) and attaches it as a `.sig` layer on a real
 * registry; `cosign verify` is the reference.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSignatures } from '../../../src/oci/discover.js';
import { HttpRegistry } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { compileKeyAuthority, verifySignature } from '../../../src/verify/index.js';
import {
  cosignBinary,
  cosignVerify,
  generateKeyPair,
  registryArgs,
  type CosignKeyPair,
} from '../../support/cosign.js';
import { runToolOrThrow, toolEnv } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf } from '../oci/helpers.js';

describe('simple-signing payloads with keys in another case', () => {
  let registry: TestRegistry;
  let client: HttpRegistry;
  let key: CosignKeyPair;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new HttpRegistry({ insecureRegistries: [registry.host] });
    key = await generateKeyPair('ecdsa-p256');
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  /** Pushes an image and another, signs `payload(image, other)` with cosign 2 and attaches it to the image. */
  async function attachSigned(path: string, payload: (digest: string, other: string) => string) {
    const image = await pushImage(targetOf(registry), path, 'v1');
    const other = await pushImage(targetOf(registry), path, 'v2');
    const ref = `${registry.host}/${path}@${image.digest}`;
    const payloadPath = join(key.dir, `${path.replace(/\//g, '-')}.json`);
    const signaturePath = `${payloadPath}.sig`;
    await writeFile(payloadPath, payload(image.digest, other.digest));
    await runToolOrThrow(
      cosignBinary(2),
      [
        'sign-blob',
        '--key',
        key.privateKeyPath,
        '--tlog-upload=false',
        '--yes',
        '--output-signature',
        signaturePath,
        payloadPath,
      ],
      { env: toolEnv(undefined, { COSIGN_PASSWORD: key.password }), timeoutMs: 60_000 },
    );
    await runToolOrThrow(
      cosignBinary(2),
      [
        'attach',
        'signature',
        '--payload',
        payloadPath,
        '--signature',
        signaturePath,
        ...registryArgs(registry),
        ref,
      ],
      { env: toolEnv(registry), timeoutMs: 60_000 },
    );
    const found = await discoverSignatures(client, parseRepository(`${registry.host}/${path}`), image.digest);
    const authority = compileKeyAuthority('release', key.publicKeyPem);
    return {
      cosign: await cosignVerify(2, key.publicKeyPath, ref, registry),
      checks: found.evidence.map((e) => verifySignature(e, image.digest, authority)),
      other,
    };
  }

  const payload = (critical: string, outer = '') =>
    `{"critical":{"identity":{"docker-reference":"r.example/app"},${critical},` +
    `"type":"cosign container image signature"}${outer},"optional":null}`;

  it('admits the payload spelled as cosign writes it, as cosign does', async () => {
    const { cosign, checks } = await attachSigned('keys/exact', (digest) =>
      payload(`"image":{"docker-manifest-digest":"${digest}"}`),
    );
    expect(cosign.verified, cosign.error).toBe(true);
    expect(checks).toMatchObject([{ ok: true }]);
  });

  it('refuses a payload naming this image under "image" and another under "Image"', async () => {
    const { cosign, checks, other } = await attachSigned('keys/image', (digest, otherDigest) =>
      payload(
        `"image":{"docker-manifest-digest":"${digest}"},"Image":{"docker-manifest-digest":"${otherDigest}"}`,
      ),
    );
    // cosign reads the signature as one for the other image.
    expect(cosign.verified).toBe(false);
    expect(cosign.error).toContain(other.digest);
    expect(checks).toMatchObject([
      {
        ok: false,
        code: 'SIGNATURE_INVALID',
        message: expect.stringContaining('"Image" is read as "image"'),
      },
    ]);
  });

  it('refuses a second "Critical" naming another image', async () => {
    const { cosign, checks, other } = await attachSigned('keys/critical', (digest, otherDigest) =>
      payload(
        `"image":{"docker-manifest-digest":"${digest}"}`,
        `,"Critical":{"image":{"docker-manifest-digest":"${otherDigest}"},"type":"cosign container image signature"}`,
      ),
    );
    expect(cosign.verified).toBe(false);
    expect(cosign.error).toContain(other.digest);
    expect(checks).toMatchObject([
      {
        ok: false,
        code: 'SIGNATURE_INVALID',
        message: expect.stringContaining('"Critical" is read as "critical"'),
      },
    ]);
  });
});
