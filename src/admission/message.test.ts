import { describe, expect, it } from 'vitest';
import type { Reason } from '../verdict.js';
import {
  boundLines,
  formatContainerReason,
  formatDenyMessage,
  formatRequestError,
  MAX_MESSAGE_BYTES,
  type ContainerReason,
} from './message.js';
import { byteLength } from './text.js';

const web = { kind: 'Pod', namespace: 'default', name: 'web' };
const digestRef = 'ghcr.io/acme/api@sha256:1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

function failure(container: string, image: string, reason: Partial<Reason> = {}): ContainerReason {
  return {
    use: { container, image },
    reason: { code: 'UNTRUSTED_SIGNER', message: 'signed by key sha256:ab12 (expected key ci)', ...reason },
  };
}

describe('formatContainerReason', () => {
  it('names container, image, policy, authority, code and detail', () => {
    const line = formatContainerReason(failure('api', digestRef, { policy: 'release', authority: 'ci' }));
    expect(line.split(': ')).toEqual([
      `container "api" image ${digestRef}`,
      'policy release',
      'authority ci',
      'UNTRUSTED_SIGNER',
      'signed by key sha256:ab12 (expected key ci)',
    ]);
  });

  it('names an image volume as a volume, containers of every kind as containers', () => {
    const reason: Reason = { code: 'NO_SIGNATURE', message: 'none' };
    expect(
      formatContainerReason({
        use: { container: 'models', image: 'ghcr.io/m:1', kind: 'imageVolume' },
        reason,
      }),
    ).toBe('volume "models" image ghcr.io/m:1: NO_SIGNATURE: none');
    expect(
      formatContainerReason({
        use: { container: 'dbg', image: 'busybox', kind: 'ephemeralContainer' },
        reason,
      }),
    ).toBe('container "dbg" image busybox: NO_SIGNATURE: none');
  });

  it('omits the policy and authority segments when the reason has none', () => {
    const line = formatContainerReason(
      failure('api', 'nginx', { code: 'NO_MATCHING_POLICY', message: 'no policy matches' }),
    );
    expect(line).toBe('container "api" image nginx: NO_MATCHING_POLICY: no policy matches');
  });

  it('keeps hostile text on one line, without control characters or secrets', () => {
    const line = formatContainerReason(
      failure('api"\ninjected', 'evil\u001b[2J\nimage', {
        message: 'fetch https://u:p4ss@r.example/v2 failed\nAllowed: true',
        policy: 'p\u202Eolicy',
      }),
    );
    expect(line).not.toMatch(/[\p{Cc}\u202e]/u);
    expect(line).not.toContain('p4ss');
  });
});

describe('formatDenyMessage', () => {
  it('has a summary line, then one line per failing container with the workload', () => {
    const message = formatDenyMessage(
      web,
      [
        failure('api', digestRef, { policy: 'release' }),
        failure('sidecar', 'docker.io/library/busybox:1.36', {
          code: 'NO_SIGNATURE',
          message: 'no signature found',
        }),
      ],
      { failedImages: 2, checkedImages: 3 },
    );
    const lines = message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      'Pod default/web: 2 of 3 images failed verification (UNTRUSTED_SIGNER, NO_SIGNATURE)',
    );
    expect(
      lines[1]?.startsWith(
        `Pod default/web: container "api" image ${digestRef}: policy release: UNTRUSTED_SIGNER: `,
      ),
    ).toBe(true);
    expect(lines[2]).toBe(
      'Pod default/web: container "sidecar" image docker.io/library/busybox:1.36: NO_SIGNATURE: no signature found',
    );
  });

  it('shows the generateName of a controller-created Pod', () => {
    const message = formatDenyMessage(
      { kind: 'Pod', namespace: 'shop', name: 'web-6d4cf56db6-' },
      [failure('web', 'ghcr.io/acme/web:1.4.2')],
      { failedImages: 1, checkedImages: 1 },
    );
    expect(message.split('\n')[0]).toBe(
      'Pod shop/web-6d4cf56db6-: 1 of 1 image failed verification (UNTRUSTED_SIGNER)',
    );
  });

  it('stays within 4 KiB, keeps whole lines and counts the rest', () => {
    const failures = Array.from({ length: 200 }, (_, i) =>
      failure(`c${i}`, `registry.local/team/app-${i}:1.0.${i}`),
    );
    const message = formatDenyMessage(web, failures, { failedImages: 200, checkedImages: 200 });
    expect(byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    const lines = message.split('\n');
    const last = lines.at(-1) ?? '';
    const match = /^\.\.\. and (\d+) more$/.exec(last);
    expect(match).not.toBeNull();
    const shown = lines.length - 2;
    expect(shown).toBeGreaterThan(5);
    expect(Number(match?.[1])).toBe(200 - shown);
    // Every shown line is complete: it ends with the full reason text.
    for (const line of lines.slice(1, -1)) expect(line.endsWith('(expected key ci)')).toBe(true);
  });

  it('bounds a single enormous image name and message without dropping the line', () => {
    const message = formatDenyMessage(
      web,
      [failure('api', `ghcr.io/${'a'.repeat(20_000)}:1`, { message: 'x'.repeat(20_000) })],
      { failedImages: 1, checkedImages: 1 },
    );
    expect(byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(message.split('\n')).toHaveLength(2);
    expect(message).toContain('UNTRUSTED_SIGNER');
  });

  it('uses unicode image names as given', () => {
    const message = formatDenyMessage(web, [failure('api', 'registry.local/イメージ:最新')], {
      failedImages: 1,
      checkedImages: 1,
    });
    expect(message).toContain('image registry.local/イメージ:最新: UNTRUSTED_SIGNER');
  });
});

describe('boundLines', () => {
  it('keeps everything when it fits', () => {
    expect(boundLines('head', ['a', 'b'], 100)).toBe('head\na\nb');
  });

  it('reports how many lines were left out', () => {
    expect(boundLines('head', ['aaaa', 'bbbb', 'cccc'], 25)).toBe('head\naaaa\n... and 2 more');
  });
});

describe('formatRequestError', () => {
  it('names the workload and the code', () => {
    expect(formatRequestError(web, 'INVALID_REQUEST', 'spec.containers must be a list')).toBe(
      'Pod default/web: INVALID_REQUEST: spec.containers must be a list',
    );
  });
});
