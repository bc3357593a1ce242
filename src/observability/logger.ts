/**
 * Structured JSON logs (pino). Registry credentials, bearer tokens and passwords must never reach a log line,
 * whoever passes them in by mistake: the redact paths below mask them at any of the first three levels.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'identityToken',
  'auth',
  'auths',
  'credentials',
  'secret',
  'cookie',
];

export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
  `*.*.*.${key}`,
]);

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read them back. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? 'info',
    base: { service: 'provenant' },
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
    timestamp: isoTime,
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/**
 * pino's `stdTimeFunctions.isoTime`, to the same characters, without a Date and toISOString() for every line:
 * every admission logs one, and under load most lines fall in the same second as the one before. The
 * second's text is kept and only the milliseconds are written anew.
 */
export function isoTime(now: number = Date.now()): string {
  let ms = now - currentSecond;
  if (!(ms >= 0 && ms < 1000)) {
    ms = ((now % 1000) + 1000) % 1000;
    currentSecond = now - ms;
    // "2026-12-05T18:50:07.", without the milliseconds and the Z.
    secondPrefix = `,"time":"${new Date(currentSecond).toISOString().slice(0, -4)}`;
  }
  return `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}
let currentSecond = Number.NaN;
let secondPrefix = '';

/** A log destination that can be told to write out what it holds. */
export interface BatchedDestination extends DestinationStream {
  flush(): void;
}

/**
 * Gathers the lines logged during one turn of the event loop and hands them to `write` together when the
 * turn ends (setImmediate). Under load several admissions are answered per turn, and each synchronous
 * write(2) of a decision line cost more than deciding a cached admission; now a turn's lines cost one. A
 * line is never held past the turn it was logged in, and lines pending when the process exits (normally or
 * on an uncaught error) are written then; call flush() to write them sooner.
 */
export function batchedDestination(write: (text: string) => void): BatchedDestination {
  let pending: string[] = [];
  const destination: BatchedDestination = {
    write(line: string): void {
      pending.push(line);
      if (pending.length === 1) {
        unflushed.add(destination);
        setImmediate(destination.flush);
      }
    },
    flush(): void {
      unflushed.delete(destination);
      if (pending.length === 0) return;
      const text = pending.length === 1 ? (pending[0] as string) : pending.join('');
      pending = [];
      write(text);
    },
  };
  if (!flushesOnExit) {
    flushesOnExit = true;
    process.once('exit', () => {
      for (const waiting of unflushed) waiting.flush();
    });
  }
  return destination;
}

/** Destinations holding lines, written out if the process exits before their turn ends. */
const unflushed = new Set<BatchedDestination>();
let flushesOnExit = false;

export interface DecisionLogEntry {
  readonly webhook: string;
  readonly uid: string;
  readonly operation?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly dryRun?: boolean;
  readonly images: readonly string[];
  readonly decision: 'allow' | 'deny';
  readonly codes: readonly string[];
  readonly latencyMs: number;
  readonly skipped?: string;
  readonly patched?: number;
  readonly warnings?: number;
  /** What each attestation requirement found (verified facts only), so the log shows how images were built. */
  readonly attestations?: readonly AttestationLogEntry[];
}

export interface AttestationLogEntry {
  readonly image: string;
  readonly policy: string;
  readonly requirement: string;
  readonly satisfied: boolean;
  readonly slsaLevel?: number;
  readonly builder?: string;
  readonly repository?: string;
  readonly ref?: string;
}

const MAX_LOGGED_IMAGES = 50;
const MAX_LOGGED_IMAGE_LENGTH = 512;

// The decision line is written for every admission, and pino's wildcard redaction walks the whole entry
// each time (most of the cost of logging it). Its fields are the ones declared above, built by the admission
// edge from verified data: none is, or contains, a key redaction looks for (a test keeps it so; see
// logger.test.ts), so the line is written through a child logger without redaction, and reads the same.
const decisionLoggers = new WeakMap<Logger, Logger>();

function decisionLogger(logger: Logger): Logger {
  let child = decisionLoggers.get(logger);
  if (child === undefined) {
    child = logger.child({}, { redact: { paths: [] } });
    decisionLoggers.set(logger, child);
  }
  return child;
}

/** One line per answered AdmissionReview; image lists are bounded so a 200-container pod stays one sane line. */
export function logDecision(logger: Logger, entry: DecisionLogEntry): void {
  const images = entry.images
    .slice(0, MAX_LOGGED_IMAGES)
    .map((image) =>
      image.length > MAX_LOGGED_IMAGE_LENGTH ? `${image.slice(0, MAX_LOGGED_IMAGE_LENGTH)}…` : image,
    );
  const omitted = entry.images.length - images.length;
  decisionLogger(logger).info(
    { ...entry, images, ...(omitted > 0 ? { imagesOmitted: omitted } : {}) },
    entry.decision === 'deny' ? 'admission denied' : 'admission allowed',
  );
}
