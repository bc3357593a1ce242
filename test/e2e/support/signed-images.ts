// The few images the end-to-end cases admit or deny, pushed to a real registry and signed by the real
// cosign (2: legacy `.sig` tags, 3: bundles as referrers). Each repository holds one situation, so that a
// policy glob picks exactly the images a case is about.
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import type { TestRegistry } from '../../support/registry.js';

export interface E2eImages {
  readonly keys: { readonly a: CosignKeyPair; readonly b: CosignKeyPair };
  /** `<host>/app/*`: governed by the cluster policy "release" (key A). */
  readonly signedA: PushedImage;
  readonly unsigned: PushedImage;
  /** Signed by A (cosign 2) and by B (cosign 3). */
  readonly signedAB: PushedImage;
  /** `<host>/warn/app`: unsigned, under a Warn policy. */
  readonly warnUnsigned: PushedImage;
  /** `<host>/fresh/app`: signed by A, under no policy until a case creates one. */
  readonly freshSignedA: PushedImage;
  /** `<host>/switch/app`: signed by B only. */
  readonly switchSignedB: PushedImage;
  /** `<host>/rollout/app`: unsigned. */
  readonly rolloutUnsigned: PushedImage;
}

export async function seedE2eImages(registry: TestRegistry): Promise<E2eImages> {
  const [a, b] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  const [signedA, unsigned, signedAB, warnUnsigned, freshSignedA, switchSignedB, rolloutUnsigned] =
    await Promise.all([
      pushRandomImage(registry, 'app/signed', 'v1'),
      pushRandomImage(registry, 'app/unsigned', 'v1'),
      pushRandomImage(registry, 'app/signed-twice', 'v1'),
      pushRandomImage(registry, 'warn/app', 'v1'),
      pushRandomImage(registry, 'fresh/app', 'v1'),
      pushRandomImage(registry, 'switch/app', 'v1'),
      pushRandomImage(registry, 'rollout/app', 'v1'),
    ]);
  // Signatures of one image are made one after the other: cosign read-modify-writes the signature tag.
  await Promise.all([
    cosignSign(2, a, signedA.digestRef, registry),
    cosignSign(2, a, signedAB.digestRef, registry).then(() => cosignSign(3, b, signedAB.digestRef, registry)),
    cosignSign(3, a, freshSignedA.digestRef, registry),
    cosignSign(2, b, switchSignedB.digestRef, registry),
  ]);
  return {
    keys: { a, b },
    signedA,
    unsigned,
    signedAB,
    warnUnsigned,
    freshSignedA,
    switchSignedB,
    rolloutUnsigned,
  };
}
