import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { batchedDestination, createLogger, isoTime, logDecision } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ destination }) };
}

describe('logger', () => {
  it('writes one JSON line per decision with the fields operators search by', () => {
    const { lines, logger } = capture();
    logDecision(logger, {
      webhook: 'validate',
      uid: 'u-1',
      operation: 'CREATE',
      kind: 'Pod',
      namespace: 'shop',
      name: 'web',
      images: ['ghcr.io/acme/web:1'],
      decision: 'deny',
      codes: ['NO_SIGNATURE'],
      latencyMs: 12.5,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      uid: 'u-1',
      kind: 'Pod',
      namespace: 'shop',
      name: 'web',
      images: ['ghcr.io/acme/web:1'],
      decision: 'deny',
      codes: ['NO_SIGNATURE'],
      latencyMs: 12.5,
    });
  });

  it('bounds the image list', () => {
    const { lines, logger } = capture();
    const images = Array.from({ length: 200 }, (_, i) => `r/app:${i}`);
    logDecision(logger, {
      webhook: 'validate',
      uid: 'u',
      images,
      decision: 'allow',
      codes: [],
      latencyMs: 1,
    });
    expect(lines[0]?.['images']).toHaveLength(50);
    expect(lines[0]?.['imagesOmitted']).toBe(150);
  });

  it('redacts credentials wherever they are passed', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        authorization: 'Bearer top-secret-1',
        registry: { password: 'top-secret-2', auth: 'top-secret-3' },
        req: { headers: { authorization: 'Basic top-secret-4', cookie: 'top-secret-5' } },
        token: 'top-secret-6',
      },
      'registry call',
    );
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/top-secret/);
    expect(text).toContain('[REDACTED]');
  });
});

describe('the decision line, written without redaction', () => {
  it('carries no field that redaction would have masked, at any depth', () => {
    // Every field a decision line can have, each with a value, so a new field named like a secret fails here.
    const entry: Required<Parameters<typeof logDecision>[1]> = {
      webhook: 'mutate',
      uid: 'u-1',
      operation: 'CREATE',
      kind: 'Pod',
      namespace: 'shop',
      name: 'web',
      dryRun: false,
      images: ['ghcr.io/acme/web:1'],
      decision: 'allow',
      codes: [],
      latencyMs: 1.5,
      skipped: 'excluded namespace',
      patched: 1,
      warnings: 1,
      attestations: [
        {
          image: 'ghcr.io/acme/web:1',
          policy: 'p',
          requirement: 'provenance',
          satisfied: true,
          slsaLevel: 3,
          builder: 'b',
          repository: 'r',
          ref: 'refs/heads/main',
        },
      ],
    };
    const written = capture();
    logDecision(written.logger, entry);
    const redacted = capture();
    redacted.logger.info({ ...entry }, 'admission allowed');
    const withoutTime = (line: Record<string, unknown> | undefined) => ({ ...line, time: undefined });
    const line = withoutTime(written.lines[0]);
    expect(line).toEqual(withoutTime(redacted.lines[0]));
    expect(JSON.stringify(line)).not.toContain('[REDACTED]');
  });

  it('leaves redaction on for every other line of the same logger', () => {
    const { lines, logger } = capture();
    logDecision(logger, {
      webhook: 'validate',
      uid: 'u',
      images: [],
      decision: 'allow',
      codes: [],
      latencyMs: 0,
    });
    logger.warn({ registry: { auth: { password: 'hunter2' } } }, 'oops');
    expect(JSON.stringify(lines[1])).not.toContain('hunter2');
  });
});

describe('isoTime', () => {
  /** pino's own isoTime for the instant `ms`: the text every line carried before. */
  const pinos = (ms: number): string => `,"time":"${new Date(ms).toISOString()}"`;

  it("writes the characters pino's isoTime writes, for any instant in any order", () => {
    const sameSecond = Date.UTC(2026, 11, 5, 18, 50, 7);
    const instants = [
      ...[0, 1, 9, 10, 99, 100, 998, 999, 1000, 1001].map((ms) => sameSecond + ms),
      sameSecond - 1, // back across a second, as when the clock is stepped
      sameSecond + 86_400_000 * 400 + 5,
      0,
      -1, // before the epoch: the second still starts at a whole second
      -1001,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10000, 0, 1, 0, 0, 0, 7), // a six-digit year
    ];
    let seed = 42;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      instants.push(sameSecond + (seed % 5000) - 2500);
    }
    for (const ms of instants) expect(isoTime(ms), String(ms)).toBe(pinos(ms));
  });

  it('is what the logger stamps each line with, read as pino reads it', () => {
    let text = '';
    const logger = createLogger({ destination: { write: (line: string) => void (text += line) } });
    const before = Date.now();
    logger.info('stamped');
    const time = (JSON.parse(text) as { time: string }).time;
    expect(Date.parse(time)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(time)).toBeLessThanOrEqual(Date.now());
    expect(`,"time":"${time}"`).toBe(pinos(Date.parse(time)));
    expect(pino.stdTimeFunctions.isoTime().length).toBe(`,"time":"${time}"`.length);
  });
});

describe('batchedDestination', () => {
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it('writes the lines of one event-loop turn together, in order, once the turn ends', async () => {
    const writes: string[] = [];
    const destination = batchedDestination((text) => writes.push(text));
    destination.write('{"n":1}\n');
    destination.write('{"n":2}\n');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n']);
    destination.write('{"n":3}\n');
    await nextTurn();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n', '{"n":3}\n']);
  });

  it('writes what it holds at once when flushed, and nothing twice', async () => {
    const writes: string[] = [];
    const destination = batchedDestination((text) => writes.push(text));
    destination.write('a\n');
    destination.flush();
    expect(writes).toEqual(['a\n']);
    await nextTurn();
    destination.flush();
    expect(writes).toEqual(['a\n']);
  });

  it('writes held lines when the process exits before the turn ends', async () => {
    const logger = fileURLToPath(new URL('./logger.ts', import.meta.url));
    const script = [
      `import { batchedDestination } from ${JSON.stringify(logger)};`,
      'const destination = batchedDestination((text) => process.stdout.write(text));',
      "destination.write('last words\\n');",
      'process.exit(3);',
    ].join('\n');
    const run = promisify(execFile);
    const exited = await run(process.execPath, [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
    ]).catch((err: { code: number; stdout: string }) => err);
    expect(exited).toMatchObject({ code: 3, stdout: 'last words\n' });
  });

  it('carries pino lines, one JSON object per line', async () => {
    const writes: string[] = [];
    const logger = createLogger({ destination: batchedDestination((text) => writes.push(text)) });
    logger.info({ n: 1 }, 'first');
    logger.info({ n: 2 }, 'second');
    await nextTurn();
    expect(writes).toHaveLength(1);
    const lines = (writes[0] ?? '')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(lines.map((line) => line.msg)).toEqual(['first', 'second']);
  });
});
