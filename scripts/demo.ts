// The main job, end to end on this machine: a real registry, an image signed by real cosign, a policy,
// and `provenant verify` deciding. Run through scripts/demo.sh, which installs what it needs.
import { runCommand } from '../src/cli/commands.js';
import { cosignSign, generateKeyPair } from '../test/support/cosign.js';
import { pushRandomImage } from '../test/support/images.js';
import { startRegistry } from '../test/support/registry.js';
import { writeKeyPolicy } from '../test/support/cli.js';

const registry = await startRegistry();
try {
  const key = await generateKeyPair('ecdsa-p256');
  const signed = await pushRandomImage(registry, 'demo/app', 'v1');
  const unsigned = await pushRandomImage(registry, 'demo/app', 'v2');
  await cosignSign(2, key, signed.digestRef, registry);
  const policy = await writeKeyPolicy({
    name: 'demo-signed',
    glob: `${registry.host}/demo/**`,
    keys: { release: key.publicKeyPem },
  });

  const args = ['verify', signed.ref, unsigned.ref, '--policy', policy, '--insecure-registry', registry.host];
  console.log(`$ provenant ${args.join(' ')}\n`);
  const code = await runCommand(args, { stdout: (t) => console.log(t), stderr: (t) => console.error(t) });
  console.log(`\nexit status ${code} (0 = every image admitted, 1 = some denied, 2 = invalid input)`);
} finally {
  await registry.stop();
}
