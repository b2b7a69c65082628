// Bundles the built CLI (dist/cli.js) and its chunk worker into dist/bundle/ with esbuild, so a
// `cairn` command loads two files instead of about a hundred ES modules: resolving and
// compiling them cost about 150 ms of every command's start-up (0.26 s -> 0.14 s for
// `cairn --version` on a 2-core machine). The worker keeps its path relative to the CLI
// (bundle/workers/chunk-worker.js), as in dist/; both are ES modules by this package's "type". Native addons and undici stay outside the
// bundle and load from node_modules as before (undici only on a command's first REST call).
import { build } from "esbuild";

await build({
  entryPoints: { cairn: "dist/cli.js", "workers/chunk-worker": "dist/workers/chunk-worker.js" },
  outdir: "dist/bundle",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["zstd-napi", "fs-ext", "undici", "bufferutil", "utf-8-validate"],
  // CommonJS dependencies (commander, ws, cli-progress) call require(): give the ESM bundle one.
  banner: { js: 'import { createRequire as __cairnRequire } from "node:module"; const require = __cairnRequire(import.meta.url);' },
  legalComments: "none",
  logLevel: "warning",
});
