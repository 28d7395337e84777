// Bundles the CLI (dist/src/cli/main.js, which tsc has just written) into dist/bundle/.
//
// Why: an ES module graph of ~110 files costs a `tsbuild build` about 120 ms of resolving, reading
// and compiling before any work starts; a no-op rebuild is otherwise mostly that. esbuild with code
// splitting keeps the lazy `import()`s lazy, so each command still loads only what it runs (undici
// stays out of a local build), in a few dozen chunks instead of a hundred modules.
// The CommonJS dependencies (moo, nearley, tar-stream, undici) are bundled too; their `require` of
// Node's built-ins goes through the banner's createRequire.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  // Keep names readable in the one-line errors and in profiles.
  minify: false,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __tsbuildCreateRequire } from 'node:module'; const require = __tsbuildCreateRequire(import.meta.url);" },
});
