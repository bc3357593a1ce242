/**
 * The setting behind the `--no-match` suites: in a real registry, images signed by real cosign under a
 * ClusterImagePolicy's glob (`cluster/`), under only a namespaced ImagePolicy's glob (`team/`, namespace
 * `shop`), and under no policy at all (`stray/`), plus an unsigned image under the ClusterImagePolicy.
 */
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { cosignSign, generateKeyPair } from './cosign.js';
import { pushRandomImage, type PushedImage } from './images.js';
import type { TestRegistry } from './registry.js';

export interface NoMatchSetting {
  /** One file holding the ClusterImagePolicy `release` and the ImagePolicy `shop/team-extra`. */
  readonly policyFile: string;
  /** Signed; only the ClusterImagePolicy matches it. */
  readonly clusterSigned: PushedImage;
  /** Unsigned; only the ClusterImagePolicy matches it. */
  readonly clusterUnsigned: PushedImage;
  /** Signed; only the ImagePolicy in namespace `shop` matches it. */
  readonly teamSigned: PushedImage;
  /** Unsigned; only the ImagePolicy in namespace `shop` matches it. */
  readonly teamUnsigned: PushedImage;
  /** Unsigned; no policy matches it. */
  readonly stray: PushedImage;
}

export const TEAM_NAMESPACE = 'shop';

export async function seedNoMatchSetting(registry: TestRegistry): Promise<NoMatchSetting> {
  const key = await generateKeyPair('ecdsa-p256');
  const [clusterSigned, clusterUnsigned, teamSigned, teamUnsigned, stray] = await Promise.all([
    pushRandomImage(registry, 'cluster/app', 'v1'),
    pushRandomImage(registry, 'cluster/unsigned', 'v1'),
    pushRandomImage(registry, 'team/app', 'v1'),
    pushRandomImage(registry, 'team/unsigned', 'v1'),
    pushRandomImage(registry, 'stray/app', 'v1'),
  ]);
  for (const image of [clusterSigned!, teamSigned!]) await cosignSign(2, key, image.digestRef, registry);
  const spec = (glob: string) => ({
    images: [{ glob }],
    authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
    signatures: { threshold: 1 },
  });
  const documents = [
    {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'release' },
      spec: spec(`${registry.host}/cluster/**`),
    },
    {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'ImagePolicy',
      metadata: { name: 'team-extra', namespace: TEAM_NAMESPACE },
      spec: spec(`${registry.host}/team/**`),
    },
  ];
  const policyFile = join(await mkdtemp(join(tmpdir(), 'provenant-no-match-')), 'policies.yaml');
  await writeFile(policyFile, documents.map((d) => dump(d, { lineWidth: -1 })).join('---\n'));
  return {
    policyFile,
    clusterSigned: clusterSigned!,
    clusterUnsigned: clusterUnsigned!,
    teamSigned: teamSigned!,
    teamUnsigned: teamUnsigned!,
    stray: stray!,
  };
}
