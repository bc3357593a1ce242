/**
 * A registry without the referrers API (distribution 2.8) is asked for it once per repository: afterwards
 * discovery reads only the fallback tag, one request fewer per image. Requests are counted at the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSignatures } from '../../../src/oci/discover.js';
import { HttpRegistry } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf } from './helpers.js';

describe('referrers API support, learned per repository', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let client: HttpRegistry;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    client = new HttpRegistry({ insecureRegistries: [proxy.host] });
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  const referrersCalls = () => proxy.requests.filter((r) => r.path.includes('/referrers/')).length;
  const fallbackCalls = (digest: string) =>
    proxy.requests.filter((r) => r.path.endsWith(`/manifests/${digest.replace(':', '-')}`)).length;

  it('asks the API once, then only the fallback tag', async () => {
    const a = await pushImage(targetOf(registry), 'support/app', 'a');
    const b = await pushImage(targetOf(registry), 'support/app', 'b');
    const repo = parseRepository(`${proxy.host}/support/app`);
    expect(client.referrersSupport(repo)).toBe('unknown');

    await discoverSignatures(client, repo, a.digest);
    expect(referrersCalls()).toBe(1);
    expect(fallbackCalls(a.digest)).toBe(1);
    expect(client.referrersSupport(repo)).toBe('unsupported');

    await discoverSignatures(client, repo, b.digest);
    expect(referrersCalls()).toBe(1);
    expect(fallbackCalls(b.digest)).toBe(1);

    // Another repository is asked again.
    expect(client.referrersSupport(parseRepository(`${proxy.host}/support/other`))).toBe('unknown');
  });
});
