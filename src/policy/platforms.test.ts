import { describe, expect, it } from 'vitest';
import { normalisePlatform, type ImagePlatforms } from '../oci/platforms.js';
import { platformTargets } from './platforms.js';

const INDEX = `sha256:${'0'.repeat(64)}`;
const AMD = `sha256:${'a'.repeat(64)}`;
const ARM = `sha256:${'b'.repeat(64)}`;

const index: ImagePlatforms = {
  kind: 'index',
  manifests: [
    { digest: AMD, platform: 'linux/amd64' },
    { digest: ARM, platform: 'linux/arm64' },
  ],
};
const single = (platform: string | undefined): ImagePlatforms => ({
  kind: 'image',
  platform: async () => platform,
});
const never = (): Promise<ImagePlatforms> => {
  throw new Error('the default must not read the image');
};

describe('platformTargets', () => {
  it('checks the resolved digest alone by default, without reading the image', async () => {
    expect(await platformTargets(undefined, INDEX, never)).toEqual({
      targets: [{ digest: INDEX }],
      missing: [],
    });
    expect(await platformTargets({ kind: 'index' }, INDEX, never)).toEqual({
      targets: [{ digest: INDEX }],
      missing: [],
    });
  });

  it('all: the index and every platform manifest', async () => {
    expect(await platformTargets({ kind: 'all' }, INDEX, async () => index)).toEqual({
      targets: [{ digest: INDEX }, ...index.manifests],
      missing: [],
    });
  });

  it('all: a manifest listed twice, or the index listing itself, is verified once', async () => {
    const repeating: ImagePlatforms = {
      kind: 'index',
      manifests: [...index.manifests, ...index.manifests, { digest: INDEX, platform: 'unknown' }],
    };
    expect(await platformTargets({ kind: 'all' }, INDEX, async () => repeating)).toEqual({
      targets: [{ digest: INDEX }, ...index.manifests],
      missing: [],
    });
  });

  it('all on a single-platform image: the image itself', async () => {
    expect(await platformTargets({ kind: 'all' }, AMD, async () => single('linux/amd64'))).toEqual({
      targets: [{ digest: AMD }],
      missing: [],
    });
  });

  it('a list: the named platforms, spelled as the policy spells them, and those missing', async () => {
    const selection = { kind: 'list', platforms: ['linux/arm64/v8', 'linux/s390x'] } as const;
    expect(await platformTargets(selection, INDEX, async () => index)).toEqual({
      targets: [{ digest: ARM, platform: 'linux/arm64/v8' }],
      missing: ['linux/s390x'],
    });
  });

  it('a list on a single-platform image: the platform its configuration names', async () => {
    const selection = { kind: 'list', platforms: ['linux/amd64'] } as const;
    expect(await platformTargets(selection, AMD, async () => single('linux/amd64'))).toEqual({
      targets: [{ digest: AMD, platform: 'linux/amd64' }],
      missing: [],
    });
    expect(await platformTargets(selection, AMD, async () => single(undefined))).toEqual({
      targets: [],
      missing: ['linux/amd64'],
    });
  });

  it('a list: every manifest a node of that OS and architecture might pull, however spelled or varied', async () => {
    // An unsigned entry listed first under an alias (containerd takes the first of equal matches), or under
    // a variant a node may prefer, is verified too.
    const UNSIGNED = `sha256:${'c'.repeat(64)}`;
    const V3 = `sha256:${'d'.repeat(64)}`;
    const hostile: ImagePlatforms = {
      kind: 'index',
      manifests: [
        { digest: UNSIGNED, platform: normalisePlatform('linux/x86-64') },
        { digest: AMD, platform: 'linux/amd64' },
        { digest: V3, platform: 'linux/amd64/v3' },
        { digest: ARM, platform: 'linux/arm64' },
      ],
    };
    const selection = { kind: 'list', platforms: ['linux/amd64'] } as const;
    expect(await platformTargets(selection, INDEX, async () => hostile)).toEqual({
      targets: [
        { digest: UNSIGNED, platform: 'linux/amd64' },
        { digest: AMD, platform: 'linux/amd64' },
        { digest: V3, platform: 'linux/amd64/v3' },
      ],
      missing: [],
    });
  });
});
