// Reads the OCI image layout that scripts/image/build.sh wrote and records the image's digest and sizes in
// image.json next to it: compressed (what a registry stores and a node pulls: config + layers as pushed)
// and uncompressed (the layers unpacked: what the image takes on a node's disk).
// Usage: tsx scripts/image/report.ts OUT_DIR BASES_SECONDS BUILD_SECONDS
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

const [out = '.tmp/image', basesSeconds = '0', buildSeconds = '0'] = process.argv.slice(2);
const layout = join(out, 'oci');
const blob = (digest: string) => readFileSync(join(layout, 'blobs', ...digest.split(':')));
const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
const descriptor = index.manifests[0];
if (descriptor === undefined) throw new Error(`${layout} holds no image`);
const manifest = JSON.parse(blob(descriptor.digest).toString('utf8')) as {
  config: Descriptor;
  layers: Descriptor[];
};
const compressed = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
const uncompressed = manifest.layers.reduce((n, l) => {
  const data = blob(l.digest);
  return n + (l.mediaType.endsWith('+gzip') ? gunzipSync(data).length : data.length);
}, 0);
const MiB = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
const report = {
  digest: descriptor.digest,
  layers: manifest.layers.length,
  compressedBytes: compressed,
  uncompressedBytes: uncompressed,
  compressedMiB: MiB(compressed),
  uncompressedMiB: MiB(uncompressed),
  seconds: { bases: Number(basesSeconds), build: Number(buildSeconds) },
};
writeFileSync(join(out, 'image.json'), JSON.stringify(report, null, 2) + '\n');
console.log(`image ${report.digest} (${report.layers} layers) in ${join(out, 'oci')}`);
console.log(
  `image size: ${report.compressedMiB} MiB compressed (pushed), ${report.uncompressedMiB} MiB uncompressed` +
    ` (goal: 150 MiB); bases ${basesSeconds} s, build ${buildSeconds} s`,
);
