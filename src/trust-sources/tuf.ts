/**
 * Sigstore trust material from a TUF repository, through tuf-js (the client @sigstore/tuf wraps, used
 * directly so that every metadata download passes our JSON bounds): the one place where trust is fetched.
 * TUF checks that the metadata chains to the initial root.json, is signed by the role keys to their
 * thresholds, is not expired and does not roll back, and that the target matches its signed hashes. What
 * comes out is a trusted_root.json text, which trust/ then validates like any other.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { DefaultFetcher } from 'tuf-js/dist/fetcher.js';
import { ProvenantError } from '../errors.js';
import { jsonBoundsProblem, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';

/** The target Sigstore TUF repositories publish their trusted root under. */
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';

/** A TUF repository and the root.json a client starts from: trust is never taken on first use. */
export interface TufRepository {
  /** Base URL of the metadata; targets live under `<mirror>/targets`. */
  readonly mirror: string;
  /** The initial root.json, as bytes. */
  readonly root: Uint8Array;
}

/**
 * `mirror`: refresh the metadata from the mirror (TUF client workflow), then read the target.
 * `cache`: use the metadata and target already cached for this repository, still checking their signatures,
 * expiry and hashes; tuf-js goes to the mirror only when the cached timestamp is missing or expired.
 */
export type TufFetchMode = 'mirror' | 'cache';

/** Port: where TUF-backed trust roots come from. Resolves with the trusted_root.json text. */
export interface TrustedRootFetcher {
  fetchTrustedRoot(repository: TufRepository, mode: TufFetchMode): Promise<string>;
}

/**
 * Why a fetch failed: the mirror could not be reached or answered with an HTTP error (`unreachable`); it
 * served metadata or a target that TUF refused: bad signature, expired, rolled back, wrong hash
 * (`rejected`); the verified metadata lists no trusted_root.json (`target-missing`); or the local cache
 * cannot be used (`cache-unusable`).
 */
export type TufFailure = 'unreachable' | 'rejected' | 'target-missing' | 'cache-unusable';

/** TRUST_ROOT_UNAVAILABLE, with what kind of failure it was. */
export class TufFetchError extends ProvenantError {
  constructor(
    readonly failure: TufFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TRUST_ROOT_UNAVAILABLE', message, options);
  }
}

export interface TufClientOptions {
  /**
   * Where metadata and targets are cached, one subdirectory per repository and initial root. Created with
   * mode 0700; refused if another user owns it or others can write to it, since a root.json planted there
   * would be trusted. Default `$TMPDIR/provenant-tuf`: the chart's root filesystem is read-only except /tmp,
   * an emptyDir that outlives container restarts.
   */
  readonly cacheDir?: string;
  /** Per request (default 5 s). */
  readonly timeoutMs?: number;
  /** Retries of a request that failed on the network or with a 5xx (default 2). */
  readonly retries?: number;
}

/** TrustedRootFetcher over @sigstore/tuf. Fetches of one repository run one at a time (they share a cache). */
export class TufClient implements TrustedRootFetcher {
  readonly #queues = new Map<string, Promise<unknown>>();

  readonly #cacheDir: string;

  constructor(private readonly options: TufClientOptions = {}) {
    this.#cacheDir = options.cacheDir ?? join(tmpdir(), 'provenant-tuf');
  }

  fetchTrustedRoot(repository: TufRepository, mode: TufFetchMode): Promise<string> {
    const mirror = repository.mirror.replace(/\/+$/, '');
    const key = sha256(`${mirror}\n${sha256(repository.root)}`).slice(0, 32);
    return this.#serialise(key, () => this.#fetch(mirror, repository.root, join(this.#cacheDir, key), mode));
  }

  async #fetch(mirror: string, root: Uint8Array, dir: string, mode: TufFetchMode): Promise<string> {
    await prepareCacheDir(this.#cacheDir);
    if (mode === 'cache' && !existsSync(join(dir, repositoryDirName(mirror), 'timestamp.json'))) {
      throw new TufFetchError('cache-unusable', `${mirror}: no TUF metadata is cached for this repository`);
    }
    const rootPath = join(dir, 'initial-root.json');
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Only seeds the cache: once a newer root has been verified, @sigstore/tuf keeps using that one.
      await writeFile(rootPath, root, { mode: 0o600 });
    } catch (err) {
      throw new TufFetchError('cache-unusable', `${mirror}: cannot write the TUF cache in ${dir}`, {
        cause: err,
      });
    }
    try {
      const updater = createUpdater(mirror, rootPath, join(dir, repositoryDirName(mirror)), {
        forceCache: mode === 'cache',
        timeoutMs: this.options.timeoutMs ?? 5_000,
        retries: this.options.retries ?? 2,
      });
      await updater.refresh();
      return await readTarget(updater, TRUSTED_ROOT_TARGET);
    } catch (err) {
      throw toTufFetchError(err, mirror);
    }
  }

  #serialise<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const result = previous.then(run, run);
    const tail = result.catch(() => undefined);
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return result;
  }
}

/** A target the verified metadata does not list. */
class TargetMissing extends Error {}

/**
 * A tuf-js Updater laid out as @sigstore/tuf lays out its cache (so caches written before stay valid): the
 * metadata in `cachePath`, seeded with the initial root.json once, targets under `targets/`.
 */
function createUpdater(
  mirror: string,
  rootPath: string,
  cachePath: string,
  options: { forceCache: boolean; timeoutMs: number; retries: number },
): Updater {
  mkdirSync(join(cachePath, 'targets'), { recursive: true, mode: 0o700 });
  // Once a newer root has been verified it replaces this one; the initial root only seeds an empty cache.
  if (!existsSync(join(cachePath, 'root.json'))) copyFileSync(rootPath, join(cachePath, 'root.json'));
  return new Updater({
    metadataBaseUrl: mirror,
    targetBaseUrl: `${mirror}/targets`,
    metadataDir: cachePath,
    targetDir: join(cachePath, 'targets'),
    forceCache: options.forceCache,
    fetcher: new BoundedFetcher({ timeout: options.timeoutMs, retry: { retries: options.retries } }),
  });
}

/** The target's text, from the cache when it still matches the signed hashes, else downloaded. */
async function readTarget(updater: Updater, name: string): Promise<string> {
  const info = await updater.getTargetInfo(name);
  if (info === undefined) throw new TargetMissing(`target ${name} is not listed in the TUF metadata`);
  let path = await updater.findCachedTarget(info);
  if (path === undefined) {
    try {
      path = await updater.downloadTarget(info);
    } catch (err) {
      throw new Error(`cannot download target ${name}`, { cause: err });
    }
  }
  return readFile(path, 'utf8');
}

/**
 * tuf-js's own fetcher (timeouts, retries of network errors and 5xx, the HTTP errors its updater expects),
 * with every metadata document (root, timestamp, snapshot, targets) checked against the remote-JSON bounds
 * before tuf-js parses it: tuf-js caps sizes (up to 5 MB for targets), not nesting. tuf-js does not export
 * the class from its index, hence the path (tuf-js has no exports map; its d.ts files declare it).
 */
class BoundedFetcher extends DefaultFetcher {
  override async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    const bytes = await super.downloadBytes(url, maxLength);
    const problem = jsonBoundsProblem(bytes, REMOTE_JSON_BOUNDS);
    if (problem !== undefined) throw new Error(`${new URL(url).pathname}: refused: ${problem}`);
    return bytes;
  }
}

/** The subdirectory @sigstore/tuf caches a mirror in (`TUFClient`: host and path, URI-encoded). */
function repositoryDirName(mirror: string): string {
  const url = new URL(mirror);
  return encodeURIComponent(url.host + url.pathname.replace(/\/$/, ''));
}

async function prepareCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const stat = await lstat(dir);
    const uid = process.getuid?.();
    if (!stat.isDirectory()) throw new Error('not a directory');
    if (uid !== undefined && stat.uid !== uid) throw new Error(`owned by uid ${stat.uid}, not ${uid}`);
    if ((stat.mode & 0o022) !== 0) throw new Error('writable by other users');
  } catch (err) {
    throw new TufFetchError(
      'cache-unusable',
      `TUF cache directory ${dir} cannot be used: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * tuf-js reports failures as plain classes (ExpiredMetadataError, UnsignedMetadataError, DownloadHTTPError,
 * ...) wrapped by @sigstore/tuf's TUFError; some are flattened into a RuntimeError's text. The chain of
 * causes says enough to tell an unreachable mirror from refused content, and its messages say why.
 */
export function toTufFetchError(err: unknown, mirror: string): TufFetchError {
  if (err instanceof TufFetchError) return err;
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 8; e = (e as Error).cause) {
    chain.push(e);
  }
  const failure: TufFailure =
    err instanceof TargetMissing
      ? 'target-missing'
      : chain.some(isNetworkFailure)
        ? 'unreachable'
        : 'rejected';
  const parts: string[] = [];
  for (const e of chain) {
    const text = describe(e);
    if (text !== '' && !parts.includes(text)) parts.push(text);
  }
  return new TufFetchError(failure, `${mirror}: ${parts.join(': ') || 'TUF update failed'}`, { cause: err });
}

function isNetworkFailure(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return (
    e.constructor.name === 'DownloadHTTPError' ||
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    (e instanceof TypeError && e.message === 'fetch failed') ||
    (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR_')))
  );
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const kind = e.constructor.name;
  const status = (e as { statusCode?: unknown }).statusCode;
  const code = (e as { code?: unknown }).code;
  let text = ['Error', 'TypeError', 'TUFError', 'RuntimeError', 'TargetMissing'].includes(kind)
    ? e.message
    : `${kind}: ${e.message}`;
  if (typeof status === 'number') text += ` (HTTP ${status})`;
  else if (typeof code === 'string' && NETWORK_CODES.has(code)) text += ` (${code})`;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
