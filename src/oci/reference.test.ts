import { describe, expect, it } from 'vitest';
import { ProvenantError } from '../errors.js';
import { formatReference, parseReference, parseRepository, repositoryName, withDigest } from './reference.js';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ProvenantError ? err.code : `not a ProvenantError: ${String(err)}`;
  }
  return undefined;
}

describe('parseReference', () => {
  // [input, registry, path, tag, digest]
  const valid: [string, string, string, string | undefined, string | undefined][] = [
    ['ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04', undefined],
    ['docker.io/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined],
    ['index.docker.io/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined],
    ['index.docker.io/library/ubuntu:x', 'docker.io', 'library/ubuntu', 'x', undefined],
    ['docker.io/library/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined],
    ['dmcgowan/myapp', 'docker.io', 'dmcgowan/myapp', 'latest', undefined],
    ['dmcgowan/myapp/sub', 'docker.io', 'dmcgowan/myapp/sub', 'latest', undefined],
    ['myhost/app', 'docker.io', 'myhost/app', 'latest', undefined],
    ['localhost/foo', 'localhost', 'foo', 'latest', undefined],
    ['localhost:5000/foo:bar', 'localhost:5000', 'foo', 'bar', undefined],
    // A single component is always a Docker Hub name, even "localhost"; ":5000" is then a tag.
    ['localhost', 'docker.io', 'library/localhost', 'latest', undefined],
    ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined],
    ['example.com/foo', 'example.com', 'foo', 'latest', undefined],
    ['example:5000/foo', 'example:5000', 'foo', 'latest', undefined],
    // Registry hosts are spelled canonically (src/oci/registry-host.test.ts has every spelling)...
    ['Example.COM/foo', 'example.com', 'foo', 'latest', undefined],
    ['ghcr.io:443/o/app', 'ghcr.io', 'o/app', 'latest', undefined],
    ['registry-1.docker.io/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined],
    // ...and a single-label host keeps a port, so that it still reads as a registry.
    ['Docker/ubuntu', 'docker:443', 'ubuntu', 'latest', undefined],
    ['docker:443/ubuntu', 'docker:443', 'ubuntu', 'latest', undefined],
    ['127.0.0.1:5000/demo/app:v1', '127.0.0.1:5000', 'demo/app', 'v1', undefined],
    ['[::1]:5000/foo', '[::1]:5000', 'foo', 'latest', undefined],
    ['[2001:db8::1]/foo/bar:t', '[2001:db8::1]', 'foo/bar', 't', undefined],
    ['ghcr.io/o/app@' + DIGEST, 'ghcr.io', 'o/app', undefined, DIGEST],
    ['ghcr.io/o/app:1.2@' + DIGEST, 'ghcr.io', 'o/app', '1.2', DIGEST],
    ['nginx@' + DIGEST, 'docker.io', 'library/nginx', undefined, DIGEST],
    [`a.b/c@sha512:${'0'.repeat(128)}`, 'a.b', 'c', undefined, `sha512:${'0'.repeat(128)}`],
    [`a.b/c@sha384:${'0'.repeat(96)}`, 'a.b', 'c', undefined, `sha384:${'0'.repeat(96)}`],
    ['foo__bar/a.b_c-d---e', 'docker.io', 'foo__bar/a.b_c-d---e', 'latest', undefined],
    ['foo:_Tag.9-x', 'docker.io', 'library/foo', '_Tag.9-x', undefined],
    [`foo:${'t'.repeat(128)}`, 'docker.io', 'library/foo', 't'.repeat(128), undefined],
    // Spelled out, it is a repository name to the runtime too, not an image ID (see the invalid inputs).
    [`docker.io/library/sha256:${HEX}`, 'docker.io', 'library/sha256', HEX, undefined],
    [`a.io/${'a'.repeat(255)}`, 'a.io', 'a'.repeat(255), 'latest', undefined],
  ];

  it.each(valid)('parses %s', (input, registry, path, tag, digest) => {
    const ref = parseReference(input);
    expect(ref.registry).toBe(registry);
    expect(ref.path).toBe(path);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
    expect(ref.original).toBe(input);
  });

  const invalidInputs: [string, string][] = [
    ['empty', ''],
    ['uppercase name', 'Ubuntu'],
    ['uppercase path on Docker Hub', 'docker.io/Foo'],
    ['uppercase path after registry', 'ghcr.io/o/App'],
    ['empty tag', 'foo:'],
    ['empty digest', 'foo@'],
    ['short digest', 'foo@sha256:abc'],
    ['uppercase sha256 hex', `foo@sha256:${'A'.repeat(64)}`],
    ['sha256 too long', `foo@sha256:${'a'.repeat(65)}`],
    ['sha512 with 64 hex', `foo@sha512:${HEX}`],
    ['unknown digest algorithm', `foo@md5:${'a'.repeat(32)}`],
    ['digest without algorithm', `foo@${HEX}`],
    ['two digests', `foo@${DIGEST}@${DIGEST}`],
    ['bare 64-hex identifier', HEX],
    // containerd runs the local image with this ID (or ID prefix) instead of pulling `library/sha256`.
    ['image ID', `sha256:${HEX}`],
    ['image ID prefix', 'sha256:812ff0da'],
    ['image ID, sha512', `sha512:${HEX}${HEX}`],
    ['image ID pinned', `sha256:812ff0da@${DIGEST}`],
    ['double slash', 'a.io//b'],
    ['trailing slash', 'a.io/b/'],
    ['leading slash', '/a'],
    ['leading separator', 'a.io/-foo'],
    ['trailing separator', 'a.io/foo-'],
    ['double dot separator', 'a.io/foo..bar'],
    ['triple underscore', 'a.io/foo___bar'],
    ['mixed separators', 'a.io/foo_.bar'],
    ['tag starting with dot', 'foo:.x'],
    ['tag starting with dash', 'foo:-x'],
    ['tag too long', `foo:${'t'.repeat(129)}`],
    ['two tags', 'foo:a:b'],
    ['tag with slash', 'foo:a/b'],
    ['URL scheme', 'https://example.com/foo'],
    ['non-numeric port', 'example.com:port/foo'],
    ['registry with underscore', 'a_b.com/x'],
    ['registry label ending in dash', 'a-.com/x'],
    ['IPv6 zone', '[fe80::1%eth0]:5000/foo'],
    ['bare IPv6', '[::1]'],
    ['space', 'foo bar'],
    ['leading space', ' foo'],
    ['newline', 'foo\n'],
    ['NUL', 'foo\u0000bar'],
    ['tab in tag', 'foo:a\tb'],
    ['DEL', 'foo\u007f'],
    ['non-ASCII letter', 'föö'],
    ['emoji', 'ghcr.io/o/\u{1F600}'],
    ['right-to-left override', 'ghcr.io/o/app\u202e'],
    ['fullwidth colon', 'foo\uff1abar'],
    ['path too long', `a.io/${'a'.repeat(256)}`],
    ['Docker Hub path too long with library/', 'a'.repeat(250)],
    ['very long input', 'a'.repeat(100_000)],
    ['very long hostile pattern', `${'a-'.repeat(5_000)}!`],
    ['only separators', '._-'],
    ['only @', '@'],
    ['only colon', ':'],
  ];

  it.each(invalidInputs)('rejects %s with INVALID_REFERENCE', (_name, input) => {
    expect(codeOf(() => parseReference(input))).toBe('INVALID_REFERENCE');
  });

  it('rejects values that are not strings', () => {
    expect(codeOf(() => parseReference(42 as unknown as string))).toBe('INVALID_REFERENCE');
    expect(codeOf(() => parseReference(undefined as unknown as string))).toBe('INVALID_REFERENCE');
  });

  it('rejects long hostile input quickly', () => {
    const started = performance.now();
    for (const input of ['a'.repeat(1024), `${'a.'.repeat(500)}/`, `x.io/${'a-'.repeat(400)}A`]) {
      expect(codeOf(() => parseReference(input))).toBe('INVALID_REFERENCE');
    }
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('keeps control characters out of the error message', () => {
    try {
      parseReference('evil\u001b[31m\nname');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProvenantError);
      const codes = [...(err as Error).message].map((c) => c.charCodeAt(0));
      expect(codes.filter((c) => c < 0x20 || c === 0x7f)).toEqual([]);
    }
  });

  it('bounds the length of the error message', () => {
    try {
      parseReference(`${'a'.repeat(1000)}!`);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(400);
    }
  });
});

describe('parseRepository', () => {
  it.each([
    ['ghcr.io/o/sigs', 'ghcr.io', 'o/sigs'],
    ['acme/sigs', 'docker.io', 'acme/sigs'],
    ['nginx', 'docker.io', 'library/nginx'],
    ['index.docker.io/acme/sigs', 'docker.io', 'acme/sigs'],
    ['127.0.0.1:5000/sigs', '127.0.0.1:5000', 'sigs'],
  ])('parses %s', (input, registry, path) => {
    expect(parseRepository(input)).toEqual({ registry, path });
  });

  it.each(['ghcr.io/o/sigs:v1', `ghcr.io/o/sigs@${DIGEST}`, '', 'ghcr.io/O/sigs', 'ghcr.io/o//sigs'])(
    'rejects %j',
    (input) => {
      expect(codeOf(() => parseRepository(input))).toBe('INVALID_REFERENCE');
    },
  );
});

describe('formatReference and repositoryName', () => {
  it.each([
    ['ubuntu', 'docker.io/library/ubuntu:latest', 'docker.io/library/ubuntu'],
    [`ghcr.io/o/app:1@${DIGEST}`, `ghcr.io/o/app:1@${DIGEST}`, 'ghcr.io/o/app'],
    [`localhost:5000/a@${DIGEST}`, `localhost:5000/a@${DIGEST}`, 'localhost:5000/a'],
    ['[::1]:5000/a:b', '[::1]:5000/a:b', '[::1]:5000/a'],
  ])('formats %s', (input, canonical, name) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(canonical);
    expect(repositoryName(ref)).toBe(name);
  });

  it('formats into text that parses back to the same reference', () => {
    for (const [input] of valid()) {
      const ref = parseReference(input);
      const again = parseReference(formatReference(ref));
      expect({ ...again, original: '' }).toEqual({ ...ref, original: '' });
    }
  });

  function valid(): [string][] {
    return [['ubuntu'], ['Docker/ubuntu'], [`a.io/b:c@${DIGEST}`], ['[::1]:5000/x'], ['localhost:5000']];
  }
});

describe('withDigest', () => {
  it('pins a tagged reference and keeps the tag for display', () => {
    const ref = withDigest(parseReference('ghcr.io/o/app:v1'), DIGEST);
    expect(ref.digest).toBe(DIGEST);
    expect(ref.tag).toBe('v1');
    expect(formatReference(ref)).toBe(`ghcr.io/o/app:v1@${DIGEST}`);
  });

  it.each(['sha256:abc', `SHA256:${HEX}`, HEX, ''])('rejects digest %j', (digest) => {
    expect(codeOf(() => withDigest(parseReference('a.io/b'), digest))).toBe('INVALID_REFERENCE');
  });
});
