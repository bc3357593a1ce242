import { describe, expect, it } from 'vitest';
import type { LogSink } from './log.js';
import { POLICY_RESOURCES, type KubeObject } from './policy-resources.js';
import {
  MAX_MESSAGE_CHARS,
  formatProblems,
  planStatus,
  readyStateFor,
  StatusReconciler,
  type PolicyStatusWriter,
  type StatusBody,
  type StatusWriteOutcome,
} from './status.js';

const silent: LogSink = { debug() {}, info() {}, warn() {}, error() {} };
const NOW = new Date('2026-03-01T10:00:00.123Z');
const valid = readyStateFor({ kind: 'policy' });
const invalid = readyStateFor({ kind: 'policy', problems: [{ field: 'spec.images', message: 'missing' }] });

describe('formatProblems', () => {
  it('joins problems with their field paths', () => {
    expect(
      formatProblems([
        { field: 'spec.images[0].glob', message: 'bad glob' },
        { field: 'spec', message: 'requires nothing' },
      ]),
    ).toBe('spec.images[0].glob: bad glob; spec: requires nothing');
  });

  it('stays within the bound and counts what it left out', () => {
    const problems = Array.from({ length: 200 }, (_, i) => ({
      field: `spec.authorities[${i}]`,
      message: 'x'.repeat(40),
    }));
    const text = formatProblems(problems);
    expect(text.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(text).toMatch(/\(and \d+ more\)$/);
  });

  it('cuts a single oversized problem', () => {
    const text = formatProblems([{ field: 'spec', message: 'y'.repeat(5000) }], 100);
    expect(text.length).toBeLessThanOrEqual(100);
  });
});

describe('readyStateFor', () => {
  it('says Valid for a valid object', () => {
    expect(valid).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(readyStateFor({ kind: 'trust-root' })).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it('says whether an invalid object is enforced in its last valid version', () => {
    expect(invalid).toMatchObject({ status: 'False', reason: 'InvalidPolicy' });
    expect(invalid.message).toContain('not enforced');
    const kept = readyStateFor({
      kind: 'policy',
      problems: [{ field: 'spec', message: 'x' }],
      lastGoodGeneration: 3,
    });
    expect(kept.message).toContain('last valid version (generation 3) stays in force');
    const root = readyStateFor({ kind: 'trust-root', problems: [{ field: 'spec', message: 'x' }] });
    expect(root.reason).toBe('InvalidTrustRoot');
  });

  it('keeps the whole message within the bound', () => {
    const problems = Array.from({ length: 100 }, () => ({ field: 'spec', message: 'z'.repeat(100) }));
    const state = readyStateFor({ kind: 'policy', problems, lastGoodGeneration: 7 });
    expect(state.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(state.message).toMatch(/stays in force\.$/);
  });
});

describe('planStatus', () => {
  it('writes observedGeneration and a Ready condition on a fresh object', () => {
    expect(planStatus(undefined, 2, valid, NOW)).toEqual({
      observedGeneration: 2,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Valid',
          message: valid.message,
          lastTransitionTime: '2026-03-01T10:00:00Z',
        },
      ],
    });
  });

  it('writes nothing when the object already says it', () => {
    const written = planStatus(undefined, 2, valid, NOW);
    expect(planStatus(written, 2, valid, new Date('2027-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('rewrites for a new generation but keeps lastTransitionTime while the status does not flip', () => {
    const written = planStatus(undefined, 2, valid, NOW);
    const next = planStatus(written, 3, valid, new Date('2026-03-02T00:00:00Z'));
    expect(next?.observedGeneration).toBe(3);
    expect(next?.conditions).toEqual(written?.conditions);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const written = planStatus(undefined, 2, valid, NOW);
    const next = planStatus(written, 3, invalid, new Date('2026-03-02T00:00:00Z'));
    expect(next?.conditions[0]).toMatchObject({
      status: 'False',
      lastTransitionTime: '2026-03-02T00:00:00Z',
    });
  });

  it('keeps conditions of other types', () => {
    const other = {
      type: 'TrustMaterialReady',
      status: 'True',
      reason: 'Fetched',
      message: '',
      lastTransitionTime: 'x',
    };
    const next = planStatus({ observedGeneration: 1, conditions: [other] }, 1, valid, NOW);
    expect(next?.conditions).toEqual([other, expect.objectContaining({ type: 'Ready' })]);
  });

  it('ignores a status of the wrong shape', () => {
    expect(planStatus('garbage', undefined, valid, NOW)?.conditions).toHaveLength(1);
    expect(planStatus({ conditions: 'no' }, undefined, valid, NOW)).not.toHaveProperty('observedGeneration');
  });
});

class RecordingWriter implements PolicyStatusWriter {
  readonly calls: { name: string; resourceVersion: string; status: StatusBody }[] = [];
  outcomes: (StatusWriteOutcome | Error)[] = [];

  async patchStatus(
    ref: { name: string },
    resourceVersion: string,
    status: StatusBody,
  ): Promise<StatusWriteOutcome> {
    this.calls.push({ name: ref.name, resourceVersion, status });
    const next = this.outcomes.shift() ?? 'patched';
    if (next instanceof Error) throw next;
    return next;
  }
}

const ref = { resource: POLICY_RESOURCES.ClusterImagePolicy, name: 'release' };
const object = (resourceVersion: string, generation: number, status?: unknown): KubeObject => ({
  metadata: { name: 'release', uid: 'u1', resourceVersion, generation },
  ...(status === undefined ? {} : { status }),
});

describe('StatusReconciler', () => {
  const clock = { now: () => NOW.getTime() };

  it('writes with the resourceVersion it saw, and not again once the echo arrives', async () => {
    const writer = new RecordingWriter();
    const reconciler = new StatusReconciler({ writer, logger: silent, clock });
    reconciler.reconcile('k', ref, object('10', 1), valid);
    await reconciler.idle();
    expect(writer.calls).toHaveLength(1);
    expect(writer.calls[0]?.resourceVersion).toBe('10');

    // Our own write comes back through the watch with the status it wrote.
    reconciler.reconcile('k', ref, object('11', 1, writer.calls[0]?.status), valid);
    await reconciler.idle();
    expect(writer.calls).toHaveLength(1);
  });

  it('does not loop when the server prunes what it wrote', async () => {
    const writer = new RecordingWriter();
    const reconciler = new StatusReconciler({ writer, logger: silent, clock });
    reconciler.reconcile('k', ref, object('10', 1), valid);
    await reconciler.idle();
    // The echo carries no status at all (a CRD schema without the fields would prune them).
    reconciler.reconcile('k', ref, object('11', 1), valid);
    reconciler.reconcile('k', ref, object('12', 1), valid);
    await reconciler.idle();
    expect(writer.calls).toHaveLength(1);
    // A new generation is a new status to write.
    reconciler.reconcile('k', ref, object('13', 2), valid);
    await reconciler.idle();
    expect(writer.calls).toHaveLength(2);
  });

  it('waits for the next event after a conflict', async () => {
    const writer = new RecordingWriter();
    writer.outcomes = ['conflict'];
    const reconciler = new StatusReconciler({ writer, logger: silent, clock });
    reconciler.reconcile('k', ref, object('10', 1), invalid);
    await reconciler.idle();
    reconciler.reconcile('k', ref, object('11', 1), invalid);
    await reconciler.idle();
    expect(writer.calls.map((c) => c.resourceVersion)).toEqual(['10', '11']);
  });

  it('retries a failed write with backoff', async () => {
    const writer = new RecordingWriter();
    writer.outcomes = [new Error('connection reset')];
    const reconciler = new StatusReconciler({ writer, logger: silent, clock, retryInitialMs: 10 });
    reconciler.reconcile('k', ref, object('10', 1), valid);
    await reconciler.idle();
    expect(writer.calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 50));
    await reconciler.idle();
    expect(writer.calls).toHaveLength(2);
    reconciler.stop();
  });

  it('only writes the latest request when events pile up during a write', async () => {
    const writer = new RecordingWriter();
    const reconciler = new StatusReconciler({ writer, logger: silent, clock });
    reconciler.reconcile('k', ref, object('10', 1), valid);
    reconciler.reconcile('k', ref, object('11', 2), invalid);
    reconciler.reconcile('k', ref, object('12', 3), valid);
    await reconciler.idle();
    expect(writer.calls.map((c) => c.resourceVersion)).toEqual(['10', '12']);
  });
});
