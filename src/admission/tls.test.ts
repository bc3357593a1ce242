import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  generateServingCertificate,
  readKeyMaterial,
  watchCertificateFiles,
  type KeyMaterial,
} from './tls.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-tls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generateServingCertificate', () => {
  it('writes a CA and an ECDSA P-256 serving certificate for localhost, loopback IPs and given names', async () => {
    const generated = await generateServingCertificate({
      dir,
      names: ['provenant.provenant-system.svc', '10.0.0.7'],
    });
    const ca = new X509Certificate(await readFile(generated.caFile));
    const leaf = new X509Certificate(await readFile(generated.certFile));
    const key = createPrivateKey(await readFile(generated.keyFile));

    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkHost('provenant.provenant-system.svc')).toBe('provenant.provenant-system.svc');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(leaf.checkHost('evil.example')).toBeUndefined();
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(generated.caPem.trim()).toBe(ca.toString().trim());
    expect((await stat(generated.keyFile)).mode & 0o077).toBe(0);
  });

  it('never writes the CA private key', async () => {
    await generateServingCertificate({ dir });
    const files = await import('node:fs/promises').then((fs) => fs.readdir(dir));
    expect(files.sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  });
});

describe('watchCertificateFiles', () => {
  it('reports a rotated pair and ignores a mismatched one', async () => {
    const first = await generateServingCertificate({ dir });
    const initial = await readKeyMaterial(first);
    const reloads: KeyMaterial[] = [];
    const errors: unknown[] = [];
    const watcher = watchCertificateFiles(first, initial, {
      onReload: (m) => reloads.push(m),
      onError: (e) => errors.push(e),
    });
    try {
      // A half-done rotation: new certificate, old key.
      const other = await generateServingCertificate({ dir: join(dir, 'other') });
      await writeFile(first.certFile, await readFile(other.certFile));
      await expect.poll(() => errors.length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(reloads).toHaveLength(0);

      await writeFile(first.keyFile, await readFile(other.keyFile));
      await expect.poll(() => reloads.length, { timeout: 5000 }).toBe(1);
      expect(reloads[0]?.cert.equals(await readFile(other.certFile))).toBe(true);
    } finally {
      watcher.close();
    }
  });
});
