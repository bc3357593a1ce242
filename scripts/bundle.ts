/**
 * `npm run build`: bundles the command line into dist/cli/main.js with esbuild, one chunk per command, so that
 * `provenant verify` reads a few files instead of resolving and compiling hundreds of modules. Each command's
 * chunk is loaded only when it runs (src/cli/commands.ts); @kubernetes/client-node stays in node_modules,
 * since only `serve --kubernetes` loads it. Type checking is tsc's job (`npm run build` runs it first).
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = `${ROOT}dist/cli`;

await rm(`${ROOT}dist`, { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: ['src/cli/main.ts'],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  external: ['@kubernetes/client-node'],
  // Bundled CommonJS dependencies call require() for Node's built-in modules; an ES module has to make one.
  banner: {
    js: "import { createRequire as __provenantRequire } from 'node:module';\nconst require = __provenantRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
