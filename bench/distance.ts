/**
 * Section (a) measures the CLI against a registry on loopback, where a request costs ~0.1 ms and start-up is
 * all there is. Registries users verify against are some milliseconds away, and there the number of
 * sequential round trips and new connections decides. The same built CLI and the same cosign 3, side by side,
 * through a proxy that adds a round-trip time (a new connection costs one round trip too), on images pushed
 * and signed through that proxy so that signatures name it: against the bench's plain-HTTP registry, and
 * against one serving TLS, where both clients speak HTTP/2 as they do with public registries.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeKeyPolicy } from '../test/support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../test/support/cosign.js';
import { pushRandomImage } from '../test/support/images.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { cosignVerify, provenantVerify, sideBySide, type Command } from './cli.js';
import { startLatencyProxy, type LatencyProxy } from './latency-proxy.js';
import { measureProcess } from './processes.js';
import type { SignedRegistry } from './signed-registry.js';
import { ms, ratio, type Row } from './table.js';

const ROUND_TRIPS_MS = [10, 40];
const RUNS = 5;

export async function benchDistance(world: SignedRegistry, scratch: string): Promise<Row[]> {
  const key = await generateKeyPair('ecdsa-p256');
  const keyFile = join(scratch, 'distance.pub');
  await writeFile(keyFile, key.publicKeyPem);
  const tlsRegistry = await startRegistry({ tls: true });
  try {
    return [
      ...(await atDistance('plain HTTP', world.registry, key, keyFile)),
      ...(await atDistance('TLS', tlsRegistry, key, keyFile)),
    ];
  } finally {
    await tlsRegistry.stop();
  }
}

async function atDistance(
  transport: string,
  registry: TestRegistry,
  key: CosignKeyPair,
  keyFile: string,
): Promise<Row[]> {
  const proxy = await startLatencyProxy(registry.host);
  try {
    const via = { ...registry, host: proxy.host };
    const [legacy, bundle] = await Promise.all([
      pushRandomImage(via, 'distance/legacy', 'v1'),
      pushRandomImage(via, 'distance/bundle', 'v1'),
    ]);
    await Promise.all([cosignSign(2, key, legacy.digestRef, via), cosignSign(3, key, bundle.digestRef, via)]);
    const policy = await writeKeyPolicy({
      name: 'distance',
      glob: `${proxy.host}/distance/**`,
      keys: { 'distance-key': key.publicKeyPem },
    });
    const flags = [
      ...['--policy', policy],
      ...(registry.caFile === undefined
        ? ['--insecure-registry', proxy.host]
        : ['--registry-ca', registry.caFile]),
    ];
    const rows: Row[] = [];
    for (const rtt of ROUND_TRIPS_MS) {
      proxy.setRoundTripMs(rtt);
      for (const [what, image] of [
        ['legacy .sig (cosign 2)', legacy],
        ['bundle referrer (cosign 3)', bundle],
      ] as const) {
        const commands = [provenantVerify(image.ref, flags), cosignVerify(keyFile, image.ref, via)];
        const connections = [
          await connectionsOf(proxy, commands[0]!),
          await connectionsOf(proxy, commands[1]!),
        ];
        const [provenant, cosign] = await sideBySide(commands, RUNS);
        if (!provenant || !cosign) throw new Error('no samples');
        rows.push({
          what: `${what} by tag, ${transport}, ${rtt} ms round trip`,
          cells: [
            ms(provenant.wallMs),
            ms(cosign.wallMs),
            ratio(provenant.wallMs / cosign.wallMs),
            `${connections[0]} / ${connections[1]}`,
          ],
        });
      }
    }
    return rows;
  } finally {
    await proxy.close();
  }
}

/** Connections one run of `command` opens through `proxy`. */
async function connectionsOf(proxy: LatencyProxy, { command, args, env }: Command): Promise<number> {
  const before = proxy.connections();
  const run = await measureProcess(command, args, env ? { env } : {});
  if (run.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} exited ${run.exitCode}`);
  return proxy.connections() - before;
}
