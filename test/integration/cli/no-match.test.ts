/**
 * `--no-match deny|allow|warn` in `provenant verify` and `provenant check`, with the webhook suite's setting
 * (test/support/no-match.ts): exit statuses, JSON warnings and reasons, and, in `check`, the rule that a
 * namespaced ImagePolicy never lifts an image out of --no-match.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant } from '../../support/cli.js';
import { seedNoMatchSetting, TEAM_NAMESPACE, type NoMatchSetting } from '../../support/no-match.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

let registry: TestRegistry;
let s: NoMatchSetting;
let dir: string;

beforeAll(async () => {
  registry = await startRegistry();
  s = await seedNoMatchSetting(registry);
  dir = await mkdtemp(join(tmpdir(), 'provenant-no-match-cli-'));
});

afterAll(async () => {
  await registry?.stop();
});

const flags = (mode: string) => [
  '--policy',
  s.policyFile,
  '--insecure-registry',
  registry.host,
  '--output',
  'json',
  '--no-match',
  mode,
];

describe('provenant verify --no-match', () => {
  it('deny: exit 1 with NO_MATCHING_POLICY', async () => {
    const result = await provenant(['verify', s.stray.ref, ...flags('deny')]);
    expect(result.code, result.stderr).toBe(1);
    expect(parseVerifyJson(result).results[0]?.reasons.map((r) => r.code)).toEqual(['NO_MATCHING_POLICY']);
  });

  it('allow: exit 0, no warning', async () => {
    const result = await provenant(['verify', s.stray.ref, ...flags('allow')]);
    expect(result.code, result.stderr).toBe(0);
    expect(parseVerifyJson(result).results[0]).toMatchObject({ allowed: true, warnings: [], reasons: [] });
  });

  it('warn: exit 0 with the NO_MATCHING_POLICY warning', async () => {
    const result = await provenant(['verify', s.stray.ref, ...flags('warn')]);
    expect(result.code, result.stderr).toBe(0);
    const warnings = parseVerifyJson(result).results[0]?.warnings ?? [];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NO_MATCHING_POLICY.*--no-match=warn/);
  });

  it('allow: an image a ClusterImagePolicy matches is still judged by it', async () => {
    const result = await provenant(['verify', s.clusterSigned.ref, s.clusterUnsigned.ref, ...flags('allow')]);
    expect(result.code, result.stderr).toBe(1);
    expect(parseVerifyJson(result).results.map((r) => r.allowed)).toEqual([true, false]);
  });

  it('refuses an unknown value with exit 2', async () => {
    const result = await provenant(['verify', s.stray.ref, ...flags('maybe')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--no-match must be deny, allow or warn');
  });
});

describe('provenant check --no-match and namespaced ImagePolicies', () => {
  async function pod(image: string, namespace: string): Promise<string> {
    const path = join(dir, `${namespace}-${image.replace(/[^a-z0-9]/g, '-')}.yaml`);
    await writeFile(
      path,
      dump({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'app', namespace },
        spec: { containers: [{ name: 'app', image }] },
      }),
    );
    return path;
  }

  it('deny: a signed image only an ImagePolicy matches is still unmatched', async () => {
    const result = await provenant([
      'check',
      '-f',
      await pod(s.teamSigned.ref, TEAM_NAMESPACE),
      ...flags('deny'),
    ]);
    expect(result.code, result.stderr).toBe(1);
    expect(parseVerifyJson(result).results[0]?.reasons.map((r) => r.code)).toEqual(['NO_MATCHING_POLICY']);
  });

  it('allow: the ImagePolicy decides in its namespace and nowhere else', async () => {
    const signed = await provenant([
      'check',
      '-f',
      await pod(s.teamSigned.ref, TEAM_NAMESPACE),
      ...flags('allow'),
    ]);
    expect(signed.code, signed.stderr).toBe(0);
    const unsigned = await provenant([
      'check',
      '-f',
      await pod(s.teamUnsigned.ref, TEAM_NAMESPACE),
      ...flags('allow'),
    ]);
    expect(unsigned.code, unsigned.stderr).toBe(1);
    expect(parseVerifyJson(unsigned).results[0]?.reasons).toEqual([
      expect.objectContaining({ policy: `${TEAM_NAMESPACE}/team-extra`, code: 'NO_SIGNATURE' }),
    ]);
    const elsewhere = await provenant([
      'check',
      '-f',
      await pod(s.teamUnsigned.ref, 'default'),
      ...flags('allow'),
    ]);
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
  });
});
