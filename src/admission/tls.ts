/**
 * Serving certificates. In a cluster they come from a Secret (cert-manager or the chart) and are rotated in
 * place, so the server reloads them when the files change instead of needing a restart. Without files (local
 * runs, tests) a throwaway CA and serving certificate are generated; the CA's key is never written to disk.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { createSecureContext } from 'node:tls';

export interface GeneratedCertificate {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM of the CA, for a webhook configuration's caBundle or a client's trust. */
  readonly caPem: string;
}

export interface GenerateOptions {
  readonly dir: string;
  /** Extra SANs besides localhost, 127.0.0.1 and ::1: DNS names (`provenant.provenant-system.svc`) or IPs. */
  readonly names?: readonly string[];
  readonly validityDays?: number;
  readonly now?: Date;
}

export async function generateServingCertificate(options: GenerateOptions): Promise<GeneratedCertificate> {
  const names = [...new Set(['localhost', '127.0.0.1', '::1', ...(options.names ?? [])])];
  // The first DNS name becomes the common name: prefer a real name over localhost.
  const dnsNames = names
    .filter((n) => isIP(n) === 0)
    .sort((a, b) => Number(a === 'localhost') - Number(b === 'localhost'));
  // Loaded here: the X.509 toolkit is large, and a webhook serving certificate files never needs it.
  const { generateWebhookCertificate } = await import('../certs/generate.js');
  const generated = await generateWebhookCertificate({
    dnsNames,
    ipAddresses: names.filter((n) => isIP(n) !== 0),
    validityDays: options.validityDays ?? 365,
    now: options.now ?? new Date(),
  });

  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const files = {
    caFile: join(options.dir, 'ca.crt'),
    certFile: join(options.dir, 'tls.crt'),
    keyFile: join(options.dir, 'tls.key'),
  };
  await writeFile(files.caFile, generated.caPem);
  await writeFile(files.certFile, generated.certPem);
  await writeFile(files.keyFile, generated.keyPem, { mode: 0o600 });
  return { ...files, caPem: generated.caPem };
}

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface KeyMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export async function readKeyMaterial(files: CertificateFiles): Promise<KeyMaterial> {
  const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
  // Throws on a malformed pair or a key that does not match the certificate.
  createSecureContext({ cert, key });
  return { cert, key };
}

export interface CertificateWatcher {
  close(): void;
}

export interface WatchHooks {
  readonly onReload: (material: KeyMaterial) => void;
  readonly onError: (error: unknown) => void;
}

/** Re-check this often even without file events: some volume types (network filesystems) do not report changes. */
const POLL_INTERVAL_MS = 60_000;
/** Rotations write cert and key separately; wait for the burst of events to settle. */
const SETTLE_MS = 100;

/**
 * Calls `onReload` with new key material whenever the files' content changes and the pair is valid. A bad or
 * half-written pair is reported to `onError` and the previous certificate stays in use. Directories are
 * watched rather than files because Secret volumes swap a `..data` symlink, which file watches miss.
 */
export function watchCertificateFiles(
  files: CertificateFiles,
  initial: KeyMaterial,
  hooks: WatchHooks,
): CertificateWatcher {
  let current = fingerprint(initial);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reload = async (): Promise<void> => {
    if (closed) return;
    try {
      const material = await readKeyMaterial(files);
      const next = fingerprint(material);
      if (next === current || closed) return;
      current = next;
      hooks.onReload(material);
    } catch (err: unknown) {
      hooks.onError(err);
    }
  };
  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(files.certFile), dirname(files.keyFile)])) {
    try {
      const watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', hooks.onError);
      watchers.push(watcher);
    } catch (err: unknown) {
      hooks.onError(err);
    }
  }
  const poll = setInterval(() => void reload(), POLL_INTERVAL_MS);
  poll.unref();

  return {
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function fingerprint(material: KeyMaterial): string {
  return createHash('sha256').update(material.cert).update('\0').update(material.key).digest('hex');
}
