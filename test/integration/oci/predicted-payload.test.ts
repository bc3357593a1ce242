/**
 * A `.sig` layer holding exactly the payload cosign writes for an image without annotations is not downloaded:
 * discovery knows those bytes (their digest vouches for them), one round trip fewer per first-seen image.
 * Real cosign 2 signs; requests are counted at a proxy in front of a real registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSignatures } from '../../../src/oci/discover.js';
import { HttpRegistry } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage } from './helpers.js';

describe('legacy signature payloads discovery can predict', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let client: HttpRegistry;
  let key: CosignKeyPair;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    client = new HttpRegistry({ insecureRegistries: [proxy.host] });
    key = await generateKeyPair('ecdsa-p256');
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  /** Pushes and signs an image under `signedAs` (a host), then discovers its signatures through the proxy. */
  async function signAndDiscover(
    path: string,
    options: { signedAs: string; annotations?: Record<string, string>; signatureRepository?: string },
  ) {
    const image = await pushImage({ host: proxy.host, registry }, path, 'v1');
    await cosignSign(2, key, `${options.signedAs}/${path}@${image.digest}`, registry, {
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.signatureRepository
        ? { signatureRepository: `${proxy.host}/${options.signatureRepository}` }
        : {}),
    });
    const imageRepository = parseRepository(`${proxy.host}/${path}`);
    const signatureRepo = options.signatureRepository
      ? parseRepository(`${proxy.host}/${options.signatureRepository}`)
      : imageRepository;
    proxy.reset();
    const found = await discoverSignatures(client, signatureRepo, image.digest, { imageRepository });
    const blobRequests = proxy.requests.filter((r) => r.path.includes('/blobs/')).length;
    const [evidence] = found.evidence;
    if (evidence?.kind !== 'cosign-simple-signing') throw new Error('no .sig evidence found');
    // The bytes discovery kept are the registry's own, whether it downloaded them or not.
    const sigManifest = await client.getManifest(signatureRepo, `${image.digest.replace(':', '-')}.sig`);
    const layerDigest = (
      JSON.parse(Buffer.from(sigManifest!.bytes).toString()) as {
        layers: { digest: string }[];
      }
    ).layers[0]!.digest;
    expect(Buffer.from(evidence.payload)).toEqual(
      Buffer.from(await client.getBlob(signatureRepo, layerDigest, 1024 * 1024)),
    );
    return { found, blobRequests };
  }

  it('does not download the payload of an image signed under the name it is admitted by', async () => {
    const { found, blobRequests } = await signAndDiscover('predict/plain', { signedAs: proxy.host });
    expect(found.evidence).toHaveLength(1);
    expect(blobRequests).toBe(0);
  });

  it('predicts with the image repository when signatures are stored elsewhere (COSIGN_REPOSITORY)', async () => {
    const { blobRequests } = await signAndDiscover('predict/elsewhere', {
      signedAs: proxy.host,
      signatureRepository: 'predict/signatures',
    });
    expect(blobRequests).toBe(0);
  });

  it('downloads the payload when it carries annotations or names the image otherwise', async () => {
    const annotated = await signAndDiscover('predict/annotated', {
      signedAs: proxy.host,
      annotations: { env: 'prod' },
    });
    expect(annotated.blobRequests).toBe(1);
    // Signed through the registry's own address, admitted through the proxy's: another docker-reference.
    const renamed = await signAndDiscover('predict/renamed', { signedAs: registry.host });
    expect(renamed.blobRequests).toBe(1);
  });
});
