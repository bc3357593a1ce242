/**
 * A real TUF repository for tests, served over HTTP on 127.0.0.1: root, targets, snapshot and timestamp
 * metadata written and signed here with Ed25519 keys (node:crypto, canonical JSON as the TUF spec asks), with
 * consistent snapshots as Sigstore's repositories use them (`N.snapshot.json`, `N.targets.json`,
 * `targets/<sha256>.trusted_root.json`). Every publish is a complete, correctly signed new version; the
 * `publishBad*` methods and `replace` produce the attacks and accidents a client has to refuse.
 *
 *   const repo = await startTufRepository(trustedRootBytes);
 *   client gets repo.url and repo.initialRoot …
 *   repo.publish(otherBytes);          // targets, snapshot and timestamp all move to a new version
 *   await repo.stop();
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { json } from '@sigstore/core';

type Role = 'root' | 'targets' | 'snapshot' | 'timestamp';
const ROLES: readonly Role[] = ['root', 'targets', 'snapshot', 'timestamp'];
const SPEC_VERSION = '1.0.31';
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';

interface SigningKey {
  readonly id: string;
  readonly publicJson: { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } };
  readonly privateKey: KeyObject;
}

export interface PublishOptions {
  /** When the new timestamp expires (default: in a day). */
  readonly timestampExpires?: Date;
  /** Sign the timestamp with this key instead of the timestamp role's (a key the root does not list). */
  readonly timestampKey?: SigningKey;
  /** Change the signed timestamp after signing it. */
  readonly tamperTimestamp?: boolean;
  /** Version for the new timestamp (default: the next one). */
  readonly timestampVersion?: number;
}

export interface TufRepository {
  /** `http://127.0.0.1:PORT`: the mirror URL. */
  readonly url: string;
  /** 1.root.json exactly as served: what a client is configured with. */
  readonly initialRoot: Buffer;
  /** Requests received, as `GET /path status`. */
  readonly requests: string[];
  /** Publishes `target` as trusted_root.json in new targets, snapshot and timestamp versions. */
  publish(target: Uint8Array, options?: PublishOptions): void;
  /** A new timestamp that expired an hour ago (otherwise well formed and signed). */
  publishExpiredTimestamp(): void;
  /** A new timestamp signed by a key the root does not trust. */
  publishWronglySignedTimestamp(): void;
  /** A new timestamp whose content was changed after signing. */
  publishTamperedTimestamp(): void;
  /** A timestamp whose version is one below the last one served (a rollback). */
  publishRolledBackTimestamp(): void;
  /** Rotates the root keys: 2.root.json, signed by the old and the new root key, then re-signs the rest. */
  rotateRoot(): void;
  /** Serves `bytes` at `path` instead of what the repository holds (e.g. a corrupted target). */
  replace(path: string, bytes: Uint8Array): void;
  /** Path of the current trusted_root.json target, under /targets. */
  readonly targetPath: string;
  /** Answer every request with 503 (true) or serve again (false). */
  setUnavailable(unavailable: boolean): void;
  stop(): Promise<void>;
}

/** A fresh Ed25519 key, TUF-encoded; its keyid is the SHA-256 of its canonical JSON. */
export function generateSigningKey(): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const publicJson = {
    keytype: 'ed25519' as const,
    scheme: 'ed25519' as const,
    keyval: { public: raw.toString('hex') },
  };
  return { id: sha256(json.canonicalize(publicJson)), publicJson, privateKey };
}

export async function startTufRepository(initialTarget: Uint8Array): Promise<TufRepository> {
  const files = new Map<string, Buffer>();
  const overrides = new Map<string, Buffer>();
  const requests: string[] = [];
  let unavailable = false;
  const keys: Record<Role, SigningKey> = {
    root: generateSigningKey(),
    targets: generateSigningKey(),
    snapshot: generateSigningKey(),
    timestamp: generateSigningKey(),
  };
  const versions = { root: 0, targets: 0, snapshot: 0, timestamp: 0 };
  let targetPath = '';

  const inADay = () => new Date(Date.now() + 24 * 3_600_000);
  const envelope = (signed: object, signers: readonly SigningKey[], tamper?: (s: object) => object) => {
    const bytes = Buffer.from(json.canonicalize(signed));
    const signatures = signers.map((key) => ({
      keyid: key.id,
      sig: sign(null, bytes, key.privateKey).toString('hex'),
    }));
    return Buffer.from(JSON.stringify({ signed: tamper ? tamper(signed) : signed, signatures }, null, 1));
  };

  const writeRoot = (signers: readonly SigningKey[]) => {
    versions.root++;
    const signed = {
      _type: 'root',
      spec_version: SPEC_VERSION,
      version: versions.root,
      expires: tufTime(new Date(Date.now() + 365 * 24 * 3_600_000)),
      consistent_snapshot: true,
      keys: Object.fromEntries(ROLES.map((role) => [keys[role].id, keys[role].publicJson])),
      roles: Object.fromEntries(ROLES.map((role) => [role, { keyids: [keys[role].id], threshold: 1 }])),
    };
    const bytes = envelope(signed, signers);
    files.set(`/${versions.root}.root.json`, bytes);
    files.set('/root.json', bytes);
    return bytes;
  };

  const writeTimestamp = (options: PublishOptions = {}) => {
    const snapshot = files.get(`/${versions.snapshot}.snapshot.json`) as Buffer;
    versions.timestamp = options.timestampVersion ?? versions.timestamp + 1;
    const signed = {
      _type: 'timestamp',
      spec_version: SPEC_VERSION,
      version: versions.timestamp,
      expires: tufTime(options.timestampExpires ?? inADay()),
      meta: {
        'snapshot.json': {
          version: versions.snapshot,
          length: snapshot.length,
          hashes: { sha256: sha256(snapshot) },
        },
      },
    };
    files.set(
      '/timestamp.json',
      envelope(
        signed,
        [options.timestampKey ?? keys.timestamp],
        options.tamperTimestamp
          ? (s) => ({ ...s, expires: tufTime(new Date(Date.now() + 3_650 * 86_400_000)) })
          : undefined,
      ),
    );
  };

  const publish = (target: Uint8Array, options: PublishOptions = {}) => {
    const bytes = Buffer.from(target);
    const hash = sha256(bytes);
    targetPath = `/targets/${hash}.${TRUSTED_ROOT_TARGET}`;
    files.set(targetPath, bytes);
    versions.targets++;
    files.set(
      `/${versions.targets}.targets.json`,
      envelope(
        {
          _type: 'targets',
          spec_version: SPEC_VERSION,
          version: versions.targets,
          expires: tufTime(inADay()),
          targets: { [TRUSTED_ROOT_TARGET]: { length: bytes.length, hashes: { sha256: hash } } },
        },
        [keys.targets],
      ),
    );
    versions.snapshot++;
    files.set(
      `/${versions.snapshot}.snapshot.json`,
      envelope(
        {
          _type: 'snapshot',
          spec_version: SPEC_VERSION,
          version: versions.snapshot,
          expires: tufTime(inADay()),
          meta: { 'targets.json': { version: versions.targets } },
        },
        [keys.snapshot],
      ),
    );
    writeTimestamp(options);
  };

  const initialRoot = writeRoot([keys.root]);
  publish(initialTarget);

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = overrides.get(path) ?? files.get(path);
    const status = unavailable ? 503 : body === undefined ? 404 : 200;
    requests.push(`${req.method ?? 'GET'} ${path} ${status}`);
    if (status !== 200 || body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    initialRoot,
    requests,
    publish,
    get targetPath() {
      return targetPath;
    },
    publishExpiredTimestamp: () => writeTimestamp({ timestampExpires: new Date(Date.now() - 3_600_000) }),
    publishWronglySignedTimestamp: () => writeTimestamp({ timestampKey: generateSigningKey() }),
    publishTamperedTimestamp: () => writeTimestamp({ tamperTimestamp: true }),
    publishRolledBackTimestamp: () => writeTimestamp({ timestampVersion: versions.timestamp - 1 }),
    rotateRoot: () => {
      const old = keys.root;
      keys.root = generateSigningKey();
      keys.timestamp = generateSigningKey();
      writeRoot([old, keys.root]);
      writeTimestamp();
    },
    replace: (path, bytes) => overrides.set(path, Buffer.from(bytes)),
    setUnavailable: (value) => {
      unavailable = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** TUF times: RFC 3339 in UTC, whole seconds. */
function tufTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
