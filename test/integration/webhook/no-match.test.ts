/**
 * `--no-match deny|allow|warn` at the webhook, and the rule that only a ClusterImagePolicy lifts an image out
 * of it: a namespaced ImagePolicy adds requirements in its namespace but never turns a cluster-wide "deny
 * what no policy covers" into an allow. Real cosign signatures in a real registry; policies from files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedNoMatchSetting, TEAM_NAMESPACE, type NoMatchSetting } from '../../support/no-match.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let s: NoMatchSetting;
const servers = new Map<string, ServeProcess>();

beforeAll(async () => {
  registry = await startRegistry();
  s = await seedNoMatchSetting(registry);
  for (const mode of ['deny', 'allow', 'warn']) {
    servers.set(
      mode,
      await startServe(['--policy', s.policyFile, '--insecure-registry', registry.host, '--no-match', mode]),
    );
  }
});

afterAll(async () => {
  await Promise.all([...servers.values()].map((server) => server.stop('SIGKILL')));
  await registry?.stop();
});

async function admit(mode: string, image: string, namespace = 'default') {
  const response = await servers
    .get(mode)!
    .review('/validate', podReview([{ name: 'app', image: image }], { namespace }));
  return {
    allowed: response.allowed,
    codes: response.status?.details.causes.map((c) => c.reason) ?? [],
    message: response.status?.message ?? '',
    warnings: response.warnings ?? [],
  };
}

describe('--no-match', () => {
  it('deny (the default) refuses an image no policy matches, saying so', async () => {
    const r = await admit('deny', s.stray.ref);
    expect(r.allowed).toBe(false);
    expect(r.codes).toEqual(['NO_MATCHING_POLICY']);
    expect(r.message).toContain('no ClusterImagePolicy matches the image (--no-match=deny)');
  });

  it('allow admits an image no policy matches, without a word', async () => {
    const r = await admit('allow', s.stray.ref);
    expect(r).toMatchObject({ allowed: true, warnings: [] });
  });

  it('warn admits it with a kubectl warning naming the setting', async () => {
    const r = await admit('warn', s.stray.ref);
    expect(r.allowed).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('NO_MATCHING_POLICY');
    expect(r.warnings[0]).toContain('--no-match=warn');
  });

  it.each(['deny', 'allow', 'warn'])(
    '%s: changes nothing for images a ClusterImagePolicy matches',
    async (mode) => {
      expect(await admit(mode, s.clusterSigned.ref)).toMatchObject({ allowed: true, warnings: [] });
      const unsigned = await admit(mode, s.clusterUnsigned.ref);
      expect(unsigned.allowed).toBe(false);
      expect(unsigned.codes).toEqual(['NO_SIGNATURE']);
    },
  );
});

describe('only a ClusterImagePolicy lifts an image out of --no-match', () => {
  it('deny: an ImagePolicy in the namespace does not make its image matched, even signed', async () => {
    const r = await admit('deny', s.teamSigned.ref, TEAM_NAMESPACE);
    expect(r.allowed).toBe(false);
    expect(r.codes).toEqual(['NO_MATCHING_POLICY']);
  });

  it('allow: the ImagePolicy still adds its requirements in its namespace, and only there', async () => {
    expect(await admit('allow', s.teamSigned.ref, TEAM_NAMESPACE)).toMatchObject({ allowed: true });
    const unsigned = await admit('allow', s.teamUnsigned.ref, TEAM_NAMESPACE);
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.codes).toEqual(['NO_SIGNATURE']);
    expect(unsigned.message).toContain(`policy ${TEAM_NAMESPACE}/team-extra`);
    // In another namespace the ImagePolicy does not apply at all.
    expect(await admit('allow', s.teamUnsigned.ref, 'default')).toMatchObject({ allowed: true });
  });

  it('warn: the image is still unmatched (warning) and the ImagePolicy still decides', async () => {
    const signed = await admit('warn', s.teamSigned.ref, TEAM_NAMESPACE);
    expect(signed.allowed).toBe(true);
    expect(signed.warnings.join('\n')).toContain('NO_MATCHING_POLICY');
    const unsigned = await admit('warn', s.teamUnsigned.ref, TEAM_NAMESPACE);
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.codes).toEqual(['NO_SIGNATURE']);
  });
});
