/**
 * A scripted ImageVerifier for the admission edge's tests and the bench: the edge logic (decoding, dedup,
 * deadlines, messages, patches) is what is under test, so verdicts are given, not computed.
 */
import { createHash } from 'node:crypto';
import type { ImageVerdict, ImageVerifier, Reason, VerifyOptions } from '../../../src/verdict.js';

export type VerdictScript = Partial<Omit<ImageVerdict, 'image'>>;

export interface FakeVerifier extends ImageVerifier {
  /** The image lists of every call, in order. */
  readonly calls: string[][];
  readonly options: (VerifyOptions | undefined)[];
}

/** A stable fake digest per image, so pins can be checked. */
export function digestOf(image: string): string {
  return `sha256:${createHash('sha256').update(image).digest('hex')}`;
}

/** Allowed, enforced and pinned to `digestOf(image)` unless the script says otherwise. */
export function fakeVerifier(
  script: (image: string) => VerdictScript = () => ({}),
  delayMs = 0,
): FakeVerifier {
  const calls: string[][] = [];
  const options: (VerifyOptions | undefined)[] = [];
  return {
    calls,
    options,
    async verifyImages(images, opts) {
      calls.push([...images]);
      options.push(opts);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return images.map((image) => ({
        image,
        digest: digestOf(image),
        allowed: true,
        enforced: true,
        outcomes: [],
        reasons: [],
        warnings: [],
        audit: [],
        ...script(image),
      }));
    },
  };
}

/** Denies every image with one reason. */
export function denying(reason: Reason): (image: string) => VerdictScript {
  return () => ({ allowed: false, reasons: [reason] });
}

/** Never answers and ignores its signal: what the deadline backstop exists for. */
export function hangingVerifier(): FakeVerifier {
  const calls: string[][] = [];
  const options: (VerifyOptions | undefined)[] = [];
  return {
    calls,
    options,
    verifyImages(images, opts) {
      calls.push([...images]);
      options.push(opts);
      return new Promise<ImageVerdict[]>(() => {});
    },
  };
}

/** Honours its signal the way the real verifier should: TIMEOUT verdicts naming the slow step. */
export function slowButAbortableVerifier(): FakeVerifier {
  const calls: string[][] = [];
  const options: (VerifyOptions | undefined)[] = [];
  return {
    calls,
    options,
    verifyImages(images, opts) {
      calls.push([...images]);
      options.push(opts);
      return new Promise<ImageVerdict[]>((resolve) => {
        opts?.signal?.addEventListener('abort', () =>
          resolve(
            images.map((image) => ({
              image,
              allowed: false,
              enforced: true,
              outcomes: [],
              reasons: [{ code: 'TIMEOUT', message: 'registry ghcr.io did not answer the manifest request' }],
              warnings: [],
              audit: [],
            })),
          ),
        );
      });
    },
  };
}
