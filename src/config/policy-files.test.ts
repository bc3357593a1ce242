/**
 * Which policy files count as "no policies" on purpose and which as a failed read (issue #15, item 3).
 * Real files in a temporary directory; the store's watching is tested against `provenant serve` in
 * test/integration/webhook/policy-replacement.test.ts.
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { policyFilePaths, readPolicyDocuments } from './policy-files.js';

const POLICY = 'apiVersion: provenant.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: p}\n';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-files-'));
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('readPolicyDocuments', () => {
  it.each([
    ['zero bytes', ''],
    ['whitespace', '  \n\n'],
    ['comments only', '# nothing yet\n'],
    ['only document separators', '---\n---\n'],
  ])('refuses a file with no document (%s): INVALID_POLICY naming the file', async (_what, text) => {
    const path = await file('policy.yaml', text);
    await expect(readPolicyDocuments([path])).rejects.toMatchObject({
      code: 'INVALID_POLICY',
      message: expect.stringContaining(`${path}: the file is empty`),
    });
  });

  it('reads `[]` as "no policies, on purpose", beside other documents too', async () => {
    expect(await readPolicyDocuments([await file('empty.yaml', '# deliberately empty\n[]\n')])).toEqual([]);
    const docs = await readPolicyDocuments([await file('mixed.yaml', `[]\n---\n${POLICY}`)]);
    expect(docs.map((d) => d.index)).toEqual([1]);
  });

  it('fails on an unreadable file in a directory, and on a missing directory', async () => {
    await file('a.yaml', POLICY);
    await mkdir(join(dir, 'b.yaml'));
    await expect(readPolicyDocuments([dir])).rejects.toMatchObject({ code: 'INVALID_POLICY' });
    await expect(readPolicyDocuments([join(dir, 'gone')])).rejects.toMatchObject({ code: 'INVALID_POLICY' });
  });

  it('honours the removal of a named file only when told it may be removed', async () => {
    const path = join(dir, 'removed.yaml');
    await expect(readPolicyDocuments([path])).rejects.toMatchObject({ code: 'INVALID_POLICY' });
    expect(await readPolicyDocuments([path], { removableFiles: new Set([path]) })).toEqual([]);
  });

  it('skips names starting with "." (ConfigMap ..data entries, editor files) and follows links', async () => {
    await mkdir(join(dir, '..2026_12_04'));
    await writeFile(join(dir, '..2026_12_04', 'policy.yaml'), POLICY);
    await symlink('..2026_12_04', join(dir, '..data'));
    await symlink(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    await file('.policy.yaml.swp', 'not yaml: [');
    const docs = await readPolicyDocuments([dir]);
    expect(docs.map((d) => d.source)).toEqual([join(dir, 'policy.yaml')]);
  });
});

describe('policyFilePaths', () => {
  it('lists the paths that are files (or links to files), not directories or missing paths', async () => {
    const path = await file('p.yaml', POLICY);
    await symlink(path, join(dir, 'link.yaml'));
    expect(await policyFilePaths([path, join(dir, 'link.yaml'), dir, join(dir, 'none')])).toEqual(
      new Set([path, join(dir, 'link.yaml')]),
    );
  });
});
