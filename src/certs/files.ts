import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CertificateFilePaths {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The names a kubernetes.io/tls Secret volume would use, so the server reads either the same way. */
export function certificateFilePaths(dir: string): CertificateFilePaths {
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Writes the files the HTTPS server loads, each replaced atomically (write, then rename), and only when
 * its content changed. Key before certificate: the server's reload rejects a mismatched pair and keeps the
 * previous one until the second rename lands. Returns whether anything changed.
 */
export async function writeCertificateFiles(
  dir: string,
  pems: { readonly caPem: string; readonly certPem: string; readonly keyPem: string },
): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = certificateFilePaths(dir);
  const writes: [string, string, number][] = [
    [paths.keyFile, pems.keyPem, 0o600],
    [paths.certFile, pems.certPem, 0o644],
    [paths.caFile, pems.caPem, 0o644],
  ];
  let changed = false;
  for (const [path, content, mode] of writes) {
    if ((await readOrEmpty(path)) === content) continue;
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, content, { mode });
    await rename(temporary, path);
    changed = true;
  }
  return changed;
}
