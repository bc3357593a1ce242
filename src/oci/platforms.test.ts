import { describe, expect, it } from 'vitest';
import { MAX_INDEX_PLATFORMS, normalisePlatform, parseIndexPlatforms } from './platforms.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('normalisePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['Windows/AMD64', 'windows/amd64'],
    // containerd's aliases: each spelling a node treats as its own platform compares equal to it.
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/arm64/v8.0', 'linux/arm64'],
    ['linux/arm64/9.0', 'linux/arm64/v9'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/5', 'linux/arm/v5'],
    ['linux/i386', 'linux/386'],
    ['macos/arm64', 'darwin/arm64'],
  ])('%s is %s', (given, expected) => {
    expect(normalisePlatform(given)).toBe(expected);
  });
});

describe('parseIndexPlatforms', () => {
  it('lists platform manifests and leaves out BuildKit attestation manifests', () => {
    const index = {
      schemaVersion: 2,
      manifests: [
        { digest: A, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: B, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        {
          digest: C,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        },
      ],
    };
    expect(parseIndexPlatforms(bytes(index))).toEqual([
      { digest: A, platform: 'linux/amd64' },
      { digest: B, platform: 'linux/arm64' },
    ]);
  });

  it('keeps an entry annotated as an attestation manifest when its platform is one a node runs', () => {
    // containerd and containers/image choose by platform alone, the first of equal matches first.
    const attestation = { 'vnd.docker.reference.type': 'attestation-manifest' };
    const index = {
      manifests: [
        { digest: A, platform: { os: 'linux', architecture: 'amd64' }, annotations: attestation },
        { digest: B, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: C, annotations: attestation },
      ],
    };
    expect(parseIndexPlatforms(bytes(index))).toEqual([
      { digest: A, platform: 'linux/amd64' },
      { digest: B, platform: 'linux/amd64' },
      { digest: C, platform: 'unknown' },
    ]);
  });

  const repeated = (key: string) =>
    `the image index is ambiguous: an object has the key ${JSON.stringify(key)} more than once (letter case aside), which other JSON readers take differently`;
  it.each([
    ['a second digest', `{"manifests":[{"digest":"${A}","Digest":"${B}"}]}`, repeated('Digest')],
    ['a second manifests list', '{"manifests":[],"Manifests":[]}', repeated('Manifests')],
    [
      'a repeated platform',
      `{"manifests":[{"digest":"${A}","platform":{"os":"linux","architecture":"amd64"},"platform":{}}]}`,
      repeated('platform'),
    ],
    [
      'a platform key in another letter case',
      `{"manifests":[{"digest":"${A}"},{"digest":"${B}","Platform":{"os":"linux","architecture":"amd64"}}]}`,
      'the image index is ambiguous: manifest 2 of the image index has the key "Platform", which other JSON readers take for "platform"',
    ],
    [
      'an architecture key in another letter case',
      `{"manifests":[{"digest":"${A}","platform":{"os":"linux","Architecture":"amd64"}}]}`,
      'the image index is ambiguous: the platform of manifest 1 of the image index has the key "Architecture", which other JSON readers take for "architecture"',
    ],
    [
      'a manifests key in another letter case',
      `{"Manifests":[{"digest":"${A}"}]}`,
      'the image index is ambiguous: the image index has the key "Manifests", which other JSON readers take for "manifests"',
    ],
  ])('refuses an index with %s, which Go reads differently', (_name, text, message) => {
    expect(() => parseIndexPlatforms(new TextEncoder().encode(text))).toThrow(
      expect.objectContaining({ code: 'REGISTRY_RESPONSE_INVALID', message }),
    );
  });

  it.each([
    ['without an os', { architecture: 'amd64' }, 'os'],
    ['with an empty os', { os: '', architecture: 'amd64' }, 'os'],
    ['with a null os', { os: null, architecture: 'amd64' }, 'os'],
    ['with a capital dotted I in its os', { os: 'l\u0130nux', architecture: 'amd64' }, 'os'],
    ['with a Kelvin sign in its architecture', { os: 'linux', architecture: 'arm\u212a' }, 'architecture'],
    ['without an architecture', { os: 'linux' }, 'architecture'],
    ['that is not an object', 'linux/amd64', 'os'],
  ])('refuses a platform %s, which a runtime may read as another platform', (_name, platform, field) => {
    const index = {
      manifests: [
        { digest: A, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: B, platform },
      ],
    };
    expect(() => parseIndexPlatforms(bytes(index))).toThrow(
      expect.objectContaining({
        code: 'REGISTRY_RESPONSE_INVALID',
        message: `the image index is ambiguous: the platform of manifest 2 of the image index has no ${field} in printable ASCII, so runtimes may read it as another platform`,
      }),
    );
  });

  it('keeps a manifest without a platform as unknown, so [all] still checks it', () => {
    expect(parseIndexPlatforms(bytes({ manifests: [{ digest: A }] }))).toEqual([
      { digest: A, platform: 'unknown' },
    ]);
  });

  it(`refuses an index listing more than ${MAX_INDEX_PLATFORMS} platform manifests, each of which [all] would verify`, () => {
    const listing = (n: number) =>
      bytes({
        manifests: Array.from({ length: n }, (_, i) => ({
          digest: `sha256:${i.toString(16).padStart(64, '0')}`,
          platform: { os: 'linux', architecture: 'amd64' },
        })),
      });
    expect(parseIndexPlatforms(listing(MAX_INDEX_PLATFORMS))).toHaveLength(MAX_INDEX_PLATFORMS);
    expect(() => parseIndexPlatforms(listing(MAX_INDEX_PLATFORMS + 1))).toThrow(
      expect.objectContaining({
        code: 'REGISTRY_RESPONSE_INVALID',
        message: `the image index lists more than ${MAX_INDEX_PLATFORMS} platform manifests`,
      }),
    );
  });

  it('reads registry JSON under the same bounds as manifests, before building any object', () => {
    const deep = new TextEncoder().encode(`{"manifests":${'['.repeat(100)}${']'.repeat(100)}}`);
    expect(() => parseIndexPlatforms(deep)).toThrow(
      /the image index is refused JSON: JSON nests deeper than 64 levels/,
    );
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{')],
    ['no manifests', bytes({ schemaVersion: 2 })],
    ['a bad digest', bytes({ manifests: [{ digest: 'sha256:zz' }] })],
  ])('refuses an index with %s', (_what, body) => {
    expect(() => parseIndexPlatforms(body)).toThrow(
      expect.objectContaining({ code: 'REGISTRY_RESPONSE_INVALID' }),
    );
  });
});
