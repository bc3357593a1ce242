/**
 * The #15 probe's body attack against a real `provenant serve` process: eight concurrent 3 MB bodies of
 * nested arrays (and eight of empty objects) used to take RSS from ~110 MiB to ~770 MiB. Now each is refused
 * before parsing with INVALID_REQUEST naming the bound, the server's RSS (its own
 * provenant_process_resident_memory_bytes) stays far below that, and a real review is still answered.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { generateKeyPair } from '../../support/cosign.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

const MiB = 1024 * 1024;
let server: ServeProcess;

async function rss(): Promise<number> {
  const text = (await server.get('/metrics')).text;
  return Number(/^provenant_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

beforeAll(async () => {
  const key = await generateKeyPair('ecdsa-p256');
  const policy = await writeKeyPolicy({
    name: 'p',
    glob: 'registry.invalid/**',
    keys: { k: key.publicKeyPem },
  });
  server = await startServe([
    '--policy',
    policy,
    '--tls-dir',
    await mkdtemp(join(tmpdir(), 'provenant-tls-')),
  ]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
});

describe('hostile AdmissionReview bodies', () => {
  it('refuses 16 concurrent 3 MB deep or value-heavy bodies unparsed, with bounded memory', async () => {
    const before = await rss();
    const deep = Buffer.from(`{"request":${'['.repeat(1_500_000)}${']'.repeat(1_500_000)}}`);
    const wide = Buffer.from(`{"request":[${'{},'.repeat(1_000_000)}{}]}`);
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => server.post('/validate', deep)),
      ...Array.from({ length: 8 }, () => server.post('/validate', wide)),
    ]);
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(400);
      const response = answer.json<{ response: { status: { message: string; details: unknown } } }>()
        .response;
      expect(response.status.details).toEqual({ causes: [{ reason: 'INVALID_REQUEST' }] });
      expect(response.status.message).toContain(
        i < 8 ? 'nests deeper than 100 levels' : 'more than 200000 values',
      );
    }
    const after = await rss();
    // The old parse alone needed ~80 MiB per body; 48 MiB of raw bodies and buffers may be held at once.
    expect(after - before).toBeLessThan(200 * MiB);

    const ordinary = await server.review(
      '/validate',
      podReview([{ name: 'app', image: 'registry.invalid/a:v1' }]),
    );
    expect(ordinary.allowed).toBe(false);
    expect(ordinary.status?.details.causes.length).toBeGreaterThan(0);
  });
});
