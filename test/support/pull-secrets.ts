/**
 * Pull secrets for a test registry's user, as a workload carries them: one kubernetes.io/dockerconfigjson
 * Secret per password, in the order given (a rotation leaves the retired one first), read by the real parser.
 */
import { DOCKER_CONFIG_JSON, keyringFromSecrets, type Keyring } from '../../src/kube/pull-secrets.js';
import type { TestRegistry } from './registry.js';

export function keyringWithPasswords(registry: TestRegistry, ...passwords: string[]): Keyring {
  return keyringFromSecrets(
    passwords.map((password, i) => ({
      source: `apps/pull-${i}`,
      secret: {
        type: DOCKER_CONFIG_JSON,
        data: {
          '.dockerconfigjson': Buffer.from(
            JSON.stringify({ auths: { [registry.host]: { username: registry.username ?? '', password } } }),
          ).toString('base64'),
        },
      },
    })),
  );
}
