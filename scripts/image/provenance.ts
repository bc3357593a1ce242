// Writes the SLSA v1 provenance predicate of an image that scripts/image/build.sh built: what was built
// (the Dockerfile and its build arguments, from which source), from what (the source commit, the base
// images by digest, the npm lock file) and by whom. `cosign attest --type slsaprovenance1` wraps it in an
// in-toto statement whose subject is the image digest. The source defaults to this checkout; a release
// workflow passes its own (the same values its signing certificate carries, which a verifier compares).
// Usage: tsx scripts/image/provenance.ts OUT_FILE
//   env PROVENANT_SOURCE_REPOSITORY (https://github.com/provenant-dev/provenant), PROVENANT_SOURCE_REF,
//   PROVENANT_SOURCE_COMMIT (default: git), PROVENANT_BUILDER_ID, PROVENANT_BUILD_STARTED/FINISHED (ISO),
//   PROVENANT_BUILD_ARGS (space-separated KEY=VALUE), PROVENANT_BASE_DIGESTS (space-separated IMAGE=sha256:…)
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const env = process.env;
const git = (...args: string[]) => {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const pairs = (value: string | undefined) =>
  (value ?? '')
    .split(/\s+/)
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const);

const out = process.argv[2];
if (out === undefined) throw new Error('usage: provenance.ts OUT_FILE');
const repository = env['PROVENANT_SOURCE_REPOSITORY'] ?? 'https://github.com/provenant-dev/provenant';
const ref = env['PROVENANT_SOURCE_REF'] ?? (git('symbolic-ref', '-q', 'HEAD') || 'HEAD');
const commit = env['PROVENANT_SOURCE_COMMIT'] ?? git('rev-parse', 'HEAD');
const source = { uri: `git+${repository}@${ref}`, digest: { gitCommit: commit } };

const predicate = {
  buildDefinition: {
    buildType: 'https://provenant.dev/buildtypes/dockerfile-buildah/v1',
    externalParameters: {
      source,
      dockerfile: 'Dockerfile',
      buildArgs: Object.fromEntries(pairs(env['PROVENANT_BUILD_ARGS'])),
    },
    internalParameters: { builder: 'buildah bud --isolation chroot --layers --format oci' },
    resolvedDependencies: [
      source,
      ...pairs(env['PROVENANT_BASE_DIGESTS']).map(([image, digest]) => ({
        uri: `oci://${image}`,
        digest: { sha256: digest.replace(/^sha256:/, '') },
      })),
      { uri: 'package-lock.json', digest: { sha256: sha256('package-lock.json') } },
    ],
  },
  runDetails: {
    builder: { id: env['PROVENANT_BUILDER_ID'] ?? 'https://provenant.dev/builders/npm-run-image/v1' },
    metadata: {
      invocationId: randomUUID(),
      startedOn: env['PROVENANT_BUILD_STARTED'] ?? new Date().toISOString(),
      finishedOn: env['PROVENANT_BUILD_FINISHED'] ?? new Date().toISOString(),
    },
  },
};
writeFileSync(out, JSON.stringify(predicate, null, 2) + '\n');
