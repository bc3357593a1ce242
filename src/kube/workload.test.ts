import { describe, expect, it } from 'vitest';
import { readFixture } from '../../test/integration/admission/fixtures.js';
import { describeWorkload, formatWorkload } from './workload.js';

describe('describeWorkload', () => {
  it('shows the generateName of a Pod created by a controller (02_pod)', () => {
    const request = readFixture('connaisseur/02_pod.json')['request'] as {
      namespace: string;
      object: unknown;
    };
    const ref = describeWorkload({ kind: 'Pod', namespace: request.namespace, object: request.object });
    expect(ref).toEqual({
      kind: 'Pod',
      namespace: 'test-connaisseur',
      name: 'charlie-deployment-76fbf58b7d-',
    });
    expect(formatWorkload(ref)).toBe('Pod test-connaisseur/charlie-deployment-76fbf58b7d-');
  });

  it('prefers request.name, then metadata.name', () => {
    expect(describeWorkload({ kind: 'Pod', name: 'a', object: { metadata: { name: 'b' } } }).name).toBe('a');
    expect(
      describeWorkload({ kind: 'Pod', object: { metadata: { name: 'b', generateName: 'c-' } } }).name,
    ).toBe('b');
  });

  it('falls back to the object namespace and a placeholder name', () => {
    const ref = describeWorkload({ kind: 'Pod', object: { metadata: { namespace: 'ns' } } });
    expect(ref).toEqual({ kind: 'Pod', namespace: 'ns', name: '<unnamed>' });
    expect(formatWorkload(describeWorkload({ kind: 'Pod', object: null }))).toBe('Pod <unnamed>');
  });
});
